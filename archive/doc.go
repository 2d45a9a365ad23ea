// Package archive keeps the runs' output in an object store after (and, for long runs, while)
// they run: zstd-compressed JSON-lines segments, written twice in a Hive-partitioned layout that
// Amazon Athena reads as it is:
//
//	logs/by-task/family=F/container=C/run=RUNID/SEQ.json.zst           one run's output
//	logs/by-service/family=F/container=C/dt=YYYY-MM-DD/RUNID-SEQ.json.zst   a service's day
//
// SEQ numbers a container's segments of a run (000001, ...); dt is the UTC date of the
// segment's first line. Each line of a segment is one line of output:
//
//	{"run_id":"01jd...","n":12,"time":"2026-12-06T09:30:15.123456789Z","stream":"stdout","line":"text"}
//
// n is the line's number in the run (0-based, over all containers, in the order it was
// stored); line is the text without its newline ("partial":true marks a line that had none);
// output that is not UTF-8 is kept byte for byte in "b64" (base64) instead of "line".
//
// The database keeps the index (hashike.LogArchiveIndex). Archiver writes segments, Logs is the
// LogStore that reads a run's output back from the archive once it is complete, and Search
// scans the archive with a regular expression.
package archive
