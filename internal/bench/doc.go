// Package bench measures streambatch against the algorithms it replaces and
// against the physical floor, in one run, over the same PostgreSQL and S3:
// the command streambatch-bench (cmd/streambatch-bench). Scenarios are in
// workload.go, the baselines in baselines.go, the streambatch side in
// streambatch.go; every system reaches S3 through the LatencyProxy, which
// adds a fixed delay per request. It runs the streambatch binary it is given
// as child processes and must not be imported by that binary (cmd/streambatch)
// or by any package the server uses.
package bench
