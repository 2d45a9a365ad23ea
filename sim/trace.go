package sim

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TraceColumns are the columns of the workload CSV form: the first four are required.
// submit_s and duration_s are seconds (decimals allowed) from the trace start; cpu is in
// ECS units (1024 per vCPU).
var TraceColumns = []string{"submit_s", "duration_s", "cpu", "memory_mib", "name", "queue", "image"}

// ReadTrace reads a workload CSV (a header row naming TraceColumns, in any order, required
// ones present; unknown columns ignored). Errors name file:line and the column. Jobs are
// returned ordered by submit (stable).
func ReadTrace(r io.Reader, file string) (Workload, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	col, err := readHeader(cr, file, TraceColumns[:4])
	if err != nil {
		return Workload{}, err
	}
	var jobs []Job
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Workload{}, fmt.Errorf("%s: %w", file, err)
		}
		line, _ := cr.FieldPos(0)
		field := func(name string) string {
			i, ok := col[name]
			if !ok || i >= len(rec) {
				return ""
			}
			return rec[i]
		}
		secs := func(name string) (time.Duration, error) {
			d, ok := parseSeconds(field(name))
			if !ok {
				return 0, fmt.Errorf("%s:%d: column %s: want seconds >= 0, got %q", file, line, name, field(name))
			}
			return d, nil
		}
		units := func(name string) (int, error) {
			v, err := strconv.Atoi(field(name))
			if err != nil || v <= 0 {
				return 0, fmt.Errorf("%s:%d: column %s: want an integer > 0, got %q", file, line, name, field(name))
			}
			return v, nil
		}
		var j Job
		if j.Submit, err = secs("submit_s"); err != nil {
			return Workload{}, err
		}
		if j.Duration, err = secs("duration_s"); err != nil {
			return Workload{}, err
		}
		if j.CPU, err = units("cpu"); err != nil {
			return Workload{}, err
		}
		if j.MemoryMiB, err = units("memory_mib"); err != nil {
			return Workload{}, err
		}
		j.Name, j.Queue, j.Image = field("name"), field("queue"), field("image")
		jobs = append(jobs, j)
	}
	slices.SortStableFunc(jobs, func(a, b Job) int { return cmp.Compare(a.Submit, b.Submit) })
	return Workload{Name: file, Jobs: jobs}, nil
}

// parseSeconds reads decimal seconds exactly to the nanosecond ("12", "1.5", "0.000000001");
// other float forms ("1e3") go through float64.
func parseSeconds(s string) (time.Duration, bool) {
	whole, frac, dot := strings.Cut(s, ".")
	if !strings.ContainsAny(s, "eE") && whole != "" && len(frac) <= 9 && (!dot || frac != "") {
		w, err := strconv.ParseUint(whole, 10, 63)
		if err != nil || w > uint64(math.MaxInt64/int64(time.Second)) {
			return 0, false
		}
		var f uint64
		if frac != "" {
			if f, err = strconv.ParseUint(frac+strings.Repeat("0", 9-len(frac)), 10, 63); err != nil {
				return 0, false
			}
		}
		return time.Duration(w)*time.Second + time.Duration(f), true
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || math.IsNaN(v) || v*1e9 >= math.MaxInt64 {
		return 0, false
	}
	return time.Duration(math.Round(v * 1e9)), true
}

// formatSeconds writes d as decimal seconds that parseSeconds reads back exactly.
func formatSeconds(d time.Duration) string {
	s := strconv.FormatInt(int64(d/time.Second), 10)
	if ns := d % time.Second; ns != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%09d", ns), "0")
	}
	return s
}

// WriteTrace writes a workload in the CSV form ReadTrace reads.
func WriteTrace(w io.Writer, wl Workload) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(TraceColumns); err != nil {
		return err
	}
	for _, j := range wl.Jobs {
		if err := cw.Write([]string{
			formatSeconds(j.Submit), formatSeconds(j.Duration),
			strconv.Itoa(j.CPU), strconv.Itoa(j.MemoryMiB), j.Name, j.Queue, j.Image,
		}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// readHeader reads a CSV's header row and returns each column's index by name, or an error
// at file:1 naming the first required column missing.
func readHeader(cr *csv.Reader, file string, required []string) (map[string]int, error) {
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s:1: read header: %w", file, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for _, req := range required {
		if _, ok := col[req]; !ok {
			return nil, fmt.Errorf("%s:1: missing column %q", file, req)
		}
	}
	return col, nil
}

// ConvertOpenB converts the Alibaba GPU trace's pod list (openb_pod_list_*.csv: name,
// cpu_milli, memory_mib, ..., creation_time, deletion_time, scheduled_time) into a workload:
// submit = creation_time; duration = deletion_time - scheduled_time (deletion_time -
// creation_time for pods never scheduled), at least one second; cpu = cpu_milli * 1024 /
// 1000 rounded up, at least 1; GPUs are dropped. Every row becomes one job.
func ConvertOpenB(r io.Reader, file string) (Workload, error) {
	cr := csv.NewReader(r)
	col, err := readHeader(cr, file, []string{"name", "cpu_milli", "memory_mib", "creation_time", "deletion_time", "scheduled_time"})
	if err != nil {
		return Workload{}, err
	}
	var jobs []Job
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Workload{}, fmt.Errorf("%s: %w", file, err)
		}
		line, _ := cr.FieldPos(0)
		num := func(name string, optional bool) (int64, bool, error) {
			s := rec[col[name]]
			if s == "" && optional {
				return 0, false, nil
			}
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil || v < 0 {
				return 0, false, fmt.Errorf("%s:%d: column %s: want an integer >= 0, got %q", file, line, name, s)
			}
			return v, true, nil
		}
		milli, _, err := num("cpu_milli", false)
		if err != nil {
			return Workload{}, err
		}
		mem, _, err := num("memory_mib", false)
		if err != nil {
			return Workload{}, err
		}
		created, _, err := num("creation_time", false)
		if err != nil {
			return Workload{}, err
		}
		deleted, _, err := num("deletion_time", false)
		if err != nil {
			return Workload{}, err
		}
		sched, ok, err := num("scheduled_time", true)
		if err != nil {
			return Workload{}, err
		}
		start := created
		if ok {
			start = max(sched, created)
		}
		dur := max(deleted-start, 1)
		jobs = append(jobs, Job{
			Submit:    time.Duration(created) * time.Second,
			Duration:  time.Duration(dur) * time.Second,
			CPU:       max(int((milli*1024+999)/1000), 1),
			MemoryMiB: max(int(mem), 1),
			Name:      rec[col["name"]],
			Queue:     "openb",
		})
	}
	slices.SortStableFunc(jobs, func(a, b Job) int { return cmp.Compare(a.Submit, b.Submit) })
	return Workload{Name: file, Jobs: jobs}, nil
}
