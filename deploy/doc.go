// Package deploy holds the files that run tlslpd outside a developer's
// shell: the container image recipe, Kubernetes manifests, the Grafana
// dashboard and the systemd unit. It has no code; its tests check those
// files against the daemon they deploy (flags, config keys, ports, probe
// paths, metric names), so a renamed flag or metric fails here first.
package deploy
