package records

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chain returns the records of FILE.n … FILE.1, FILE in that order (oldest
// first) and how many backups exist.
func chain(t *testing.T, path string, upTo int) ([]rec, int) {
	t.Helper()
	var all []rec
	backups := 0
	for i := upTo; i >= 1; i-- {
		name := backupName(path, i)
		if _, err := os.Stat(name); err != nil {
			continue
		}
		backups++
		rs := readRecords(t, name)
		assert.NotEmpty(t, rs, "backup %s is empty", name)
		all = append(all, rs...)
	}
	return append(all, readRecords(t, path)...), backups
}

func TestRotationBySize(t *testing.T) {
	const maxBytes = 1 << 10
	const batches, perBatch = 20, 3
	tests := []struct {
		name        string
		maxBackups  int
		wantBackups int
		wantAll     bool
	}{
		{name: "all backups kept", maxBackups: 100, wantBackups: 9, wantAll: true},
		{name: "oldest dropped beyond MaxBackups", maxBackups: 2, wantBackups: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, path := openTest(t, Options{MaxBytes: maxBytes, MaxBackups: tt.maxBackups})
			id := 0
			for range batches {
				for range perBatch {
					r := sample(id, 0)
					id++
					require.NoError(t, w.Append(&r))
				}
				require.NoError(t, w.Flush())
			}
			require.NoError(t, w.Close())

			got, backups := chain(t, path, tt.maxBackups+5)
			assert.Equal(t, tt.wantBackups, backups)
			assert.NoFileExists(t, backupName(path, tt.maxBackups+1))
			// Oldest first, the kept records are the newest ones without a
			// gap or a duplicate: shifting kept the order.
			require.NotEmpty(t, got)
			first := id - len(got)
			for i, r := range got {
				require.Equal(t, first+i, r.ID)
			}
			if tt.wantAll {
				assert.Len(t, got, id, "nothing lost across files")
			}
			for i := 1; i <= backups; i++ {
				assert.LessOrEqual(t, fileSize(t, backupName(path, i)), int64(maxBytes))
			}
			assert.LessOrEqual(t, fileSize(t, path), int64(maxBytes))
			assert.EqualValues(t, id, w.Written())
		})
	}
}

func TestRotationCountsExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "records.jsonl")
	var old []byte
	for i := 0; len(old) < 900; i++ {
		r := sample(-1-i, 0)
		old = append(append(old, r.appendJSON(nil)...), '\n')
	}
	require.NoError(t, os.WriteFile(path, old, 0o644))

	w, _ := openTest(t, Options{Path: path, MaxBytes: 1 << 10})
	r := sample(1, 0)
	r.Pad = strings.Repeat("x", 200)
	require.NoError(t, w.Append(&r))
	require.NoError(t, w.Flush())

	backup, err := os.ReadFile(backupName(path, 1))
	require.NoError(t, err)
	assert.Equal(t, old, backup, "the previous run's file became FILE.1 untouched")
	got := readRecords(t, path)
	require.Len(t, got, 1)
	assert.Equal(t, 1, got[0].ID)
}

func TestBatchLargerThanMaxBytesIsWrittenWhole(t *testing.T) {
	const maxBytes = 1 << 10
	tests := []struct {
		name      string
		before    int // records flushed before the big batch
		wantFiles int
	}{
		{name: "into an empty file", before: 0, wantFiles: 1},
		{name: "after rotating a non-empty file", before: 1, wantFiles: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, path := openTest(t, Options{MaxBytes: maxBytes})
			id := 0
			for ; id < tt.before; id++ {
				r := sample(id, 0)
				require.NoError(t, w.Append(&r))
			}
			require.NoError(t, w.Flush())
			big := 0
			for ; big < 5*maxBytes; id++ {
				r := sample(id, 0)
				line := r.appendJSON(nil)
				big += len(line) + 1
				require.NoError(t, w.AppendLine(line))
			}
			require.NoError(t, w.Flush())

			assert.EqualValues(t, big, fileSize(t, path), "the big batch is alone and whole in FILE")
			got, backups := chain(t, path, 3)
			assert.Equal(t, tt.wantFiles-1, backups)
			require.Len(t, got, id)
			for i, r := range got {
				assert.Equal(t, i, r.ID)
			}
		})
	}
}

func TestNegativeMaxBytesNeverRotates(t *testing.T) {
	w, path := openTest(t, Options{MaxBytes: -1})
	for b := range 5 {
		for i := range 20 {
			r := sample(b*20+i, 0)
			require.NoError(t, w.Append(&r))
		}
		require.NoError(t, w.Flush())
	}
	assert.NoFileExists(t, backupName(path, 1))
	assert.Len(t, readRecords(t, path), 100)
}

func TestRotationFailureKeepsWriting(t *testing.T) {
	logs := &lockedBuffer{}
	w, path := openTest(t, Options{MaxBytes: 256, MaxBackups: 1, Logger: testLogger(logs)})
	// A non-empty directory where FILE.1 should go makes rename(2) fail.
	require.NoError(t, os.MkdirAll(filepath.Join(backupName(path, 1), "x"), 0o755))

	for b := range 4 {
		for i := range 3 {
			r := sample(b*3+i, 0)
			require.NoError(t, w.Append(&r))
		}
		require.NoError(t, w.Flush())
	}
	require.NoError(t, w.Close())

	assert.Contains(t, logs.String(), "rotate records file failed")
	assert.Len(t, readRecords(t, path), 12, "every record went to the current file")
	st, err := os.Stat(backupName(path, 1))
	require.NoError(t, err)
	assert.True(t, st.IsDir())
}
