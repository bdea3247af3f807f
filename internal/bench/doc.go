// Package bench measures streambatch against the algorithms it replaces and
// against the physical floor, in one run, over the same PostgreSQL and S3:
// `streambatch bench`. Scenarios are in workload.go, the baselines in
// baselines.go, the streambatch side in streambatch.go; every system reaches
// S3 through the LatencyProxy, which adds a fixed delay per request.
package bench
