// Package report is `tlslpd bench report FILE...`: it reads the --out
// files of one or more `tlslpd bench load` runs (from several machines,
// say) and prints one summary of them all, as text or JSON, with an
// optional HTML report and CI thresholds. Intervals are aligned by
// wall-clock time and histograms merged, never percentiles averaged.
//
// It owns the command line only; reading, merging, summaries and the HTML
// live in bench/loadgen, so a single run and a merged one read the same.
package report
