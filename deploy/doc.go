// Package deploy holds what running fomo outside a devnet takes: the
// systemd unit (fomo.service), the Prometheus scrape config
// (prometheus.yml) and the Grafana dashboard (grafana/fomo.json). It has no
// code; its tests check those files with the real tools: systemd-analyze,
// promtool and a Prometheus scraping a running node.
package deploy
