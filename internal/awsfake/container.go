package awsfake

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// OOMReason is the container reason ECS reports for a container killed for its memory use.
const OOMReason = "OutOfMemoryError: Container killed due to memory usage"

type container struct {
	t              *task
	def            types.ContainerDefinition
	arn, runtimeID string
	status         string
	exitCode       *int32
	reason         string
	health         types.HealthStatus
	startedAt      *time.Time
	finishedAt     *time.Time
	env            map[string]string
	fs             map[string]string
	term           chan struct{} // closed at SIGTERM
	termed         bool

	stream    *logStream
	pending   [2]string // partial line per stream (stdout, stderr)
	lines     []string  // every line written, for inspection
	lastCheck time.Time
	fails     int

	// usage is the container's CPU and memory over time, for Container Insights (insights.go).
	usage []usagePoint
}

func essential(cd types.ContainerDefinition) bool { return cd.Essential == nil || *cd.Essential }

// start runs the container (c.mu held); true when it failed at once (the caller re-plans).
func (ctr *container) start(now time.Time) bool {
	t := ctr.t
	c := t.c
	if ep := ctr.def.EntryPoint; len(ep) > 0 && !(len(ep) == 1 && ep[0] == "/testjob") {
		ctr.status = statusStopped
		ctr.reason = fmt.Sprintf("CannotStartContainerError: Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: %q: stat %s: no such file or directory: unknown", ep[0], ep[0])
		t.touch()
		return true
	}
	ctr.status = statusRunning
	ctr.startedAt = timePtr(now)
	ctr.lastCheck = now
	ctr.use(now, baselineMiB, 0)
	if lc := ctr.def.LogConfiguration; lc != nil && lc.LogDriver == types.LogDriverAwslogs {
		group := lc.Options["awslogs-group"]
		name := ctr.runtimeID
		if p := lc.Options["awslogs-stream-prefix"]; p != "" {
			name = p + "/" + deref(ctr.def.Name) + "/" + t.id
		}
		ctr.stream = c.stream(group, name, now.Add(c.opts.LogStreamDelay))
	}
	t.touch()
	script := ctr.def.Command
	if deref(ctr.def.Image) != c.opts.TestImage {
		script = []string{"exit", "0"} // another image: it does its work silently
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctr.run(script)
	}()
	return false
}

// signal delivers SIGTERM once (c.mu held).
func (ctr *container) signal() {
	if ctr.status == statusRunning && !ctr.termed {
		ctr.termed = true
		close(ctr.term)
	}
}

// memoryLimit is the container's hard limit in MiB, else the task's; 0 for none.
func (ctr *container) memoryLimit() int {
	if ctr.def.Memory != nil {
		return int(*ctr.def.Memory)
	}
	ref := ctr.t.def.Memory
	if o := ctr.t.overrides; o != nil && o.Memory != nil {
		ref = o.Memory
	}
	mem, _ := parseUnits(ref, "gb")
	return mem
}

// baselineMiB is the memory the test program uses before it allocates.
const baselineMiB = 4

// exitKind is how a script ends.
type exitKind int

const (
	exitNormal exitKind = iota
	exitOOM
	exitAbort // the cloud closed or the host went away: the state is not touched
)

// run interprets script as cmd/hashike-testjob would and records the exit.
func (ctr *container) run(args []string) {
	code, kind := ctr.interpret(args)
	if kind == exitAbort {
		return
	}
	c := ctr.t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if ctr.status != statusRunning {
		return
	}
	ctr.flush()
	ctr.status = statusStopped
	ctr.exitCode = ptr(int32(code))
	ctr.finishedAt = timePtr(c.clock.Now())
	ctr.use(*ctr.finishedAt, 0, 0)
	if kind == exitOOM {
		ctr.reason = OOMReason
	}
	ctr.t.touch()
}

func isStep(s string) bool {
	switch s {
	case "print", "stderr", "bytes", "partial", "env", "sleep", "alloc", "burn", "ignore-term", "trap-term", "touch", "cat", "exists", "exit",
		"copy", "write", "size", "fetch", "upload":
		return true
	}
	return false
}

func (ctr *container) interpret(args []string) (int, exitKind) {
	t := ctr.t
	c := t.c
	var (
		ignoreTerm bool
		trapCode   = -1
		killTimer  <-chan time.Time
		heldMiB    int
	)
	stopTimeout := 30 * time.Second
	if ctr.def.StopTimeout != nil {
		stopTimeout = time.Duration(*ctr.def.StopTimeout) * time.Second
	}
	term := ctr.term
	// onTerm applies SIGTERM; done says the program ends with code.
	onTerm := func() (code int, done bool) {
		term = nil
		switch {
		case trapCode >= 0:
			ctr.write(0, "caught SIGTERM\n")
			return trapCode, true
		case ignoreTerm:
			killTimer = c.clock.After(stopTimeout)
			return 0, false
		}
		return 143, true
	}
	fail := func(format string, a ...any) (int, exitKind) {
		ctr.write(1, fmt.Sprintf("hashike-testjob: "+format+"\n", a...))
		return 99, exitNormal
	}
	num := func(i int) (int, error) {
		if i >= len(args) {
			return 0, fmt.Errorf("step %q needs an argument", args[i-1])
		}
		n, err := strconv.Atoi(args[i])
		if err != nil {
			return 0, fmt.Errorf("step %q: %w", args[i-1], err)
		}
		return n, nil
	}
	text := func(i int, def string) (string, int) {
		if i < len(args) && !isStep(args[i]) {
			return args[i], 1
		}
		return def, 0
	}
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	if len(args) == 0 {
		ctr.write(0, "hello from hashike-testjob\n")
		return 0, exitNormal
	}
	// The test image's stand-in for /bin/sh (see cmd/hashike-testjob): "/bin/sh -c SCRIPT"
	// runs SCRIPT's steps, or those fetched from HASHIKE_SCRIPT_URL when SCRIPT fetches it.
	if len(args) > 2 && args[0] == "/bin/sh" && args[1] == "-c" {
		script := args[2]
		if strings.Contains(script, "$HASHIKE_SCRIPT_URL") {
			c.mu.Lock()
			u := ctr.env["HASHIKE_SCRIPT_URL"]
			c.mu.Unlock()
			got, err := transfer("fetch", u, "")
			if err != nil {
				return fail("sh: fetch the script: %v", err)
			}
			script = got
		}
		args = strings.Fields(script)
	}
	for i := 0; i < len(args); i++ {
		// Signals arrive between steps too.
		select {
		case <-term:
			if code, done := onTerm(); done {
				return code, exitNormal
			}
		case <-killTimer:
			return 137, exitNormal
		case <-c.closed:
			return 0, exitAbort
		case <-t.gone:
			return 0, exitAbort
		default:
		}
		switch args[i] {
		case "print", "stderr":
			n, err := num(i + 1)
			if err != nil {
				return fail("%v", err)
			}
			txt, used := text(i+2, "line")
			var b strings.Builder
			for k := 1; k <= n; k++ {
				fmt.Fprintf(&b, "%s %d\n", txt, k)
			}
			ctr.write(map[bool]int{true: 1, false: 0}[args[i] == "stderr"], b.String())
			i += 1 + used
		case "bytes":
			n, err := num(i + 1)
			if err != nil {
				return fail("%v", err)
			}
			var b strings.Builder
			line := strings.Repeat("x", 90)
			for written, k := 0, 0; written < n; k++ {
				s := fmt.Sprintf("%08d %s\n", k, line)
				b.WriteString(s)
				written += len(s)
			}
			ctr.write(0, b.String())
			i++
		case "partial":
			txt, _ := text(i+1, "")
			ctr.write(0, txt)
			i++
		case "env":
			name, _ := text(i+1, "")
			c.mu.Lock()
			v := ctr.env[name]
			c.mu.Unlock()
			ctr.write(0, fmt.Sprintf("%s=%s\n", name, v))
			i++
		case "sleep", "burn":
			d, err := time.ParseDuration(arg(i + 1))
			if err != nil {
				return fail("%s: %v", args[i], err)
			}
			if args[i] == "burn" {
				// One vCPU busy for d, then idle again.
				c.mu.Lock()
				ctr.use(c.clock.Now(), heldMiB+baselineMiB, 1)
				c.mu.Unlock()
			}
			wake := c.clock.After(d)
		wait:
			for {
				select {
				case <-wake:
					break wait
				case <-term:
					if code, done := onTerm(); done {
						return code, exitNormal
					}
				case <-killTimer:
					return 137, exitNormal
				case <-c.closed:
					return 0, exitAbort
				case <-t.gone:
					return 0, exitAbort
				}
			}
			if args[i] == "burn" {
				c.mu.Lock()
				ctr.use(c.clock.Now(), heldMiB+baselineMiB, 0)
				c.mu.Unlock()
			}
			i++
		case "alloc":
			mib, err := num(i + 1)
			if err != nil {
				return fail("%v", err)
			}
			heldMiB += mib
			if limit := ctr.memoryLimit(); limit > 0 && heldMiB+baselineMiB > limit {
				return 137, exitOOM
			}
			c.mu.Lock()
			ctr.use(c.clock.Now(), heldMiB+baselineMiB, -1)
			c.mu.Unlock()
			ctr.write(0, fmt.Sprintf("allocated %d MiB\n", mib))
			i++
		case "ignore-term":
			ignoreTerm = true
		case "trap-term":
			code, err := num(i + 1)
			if err != nil {
				return fail("%v", err)
			}
			trapCode = code
			i++
		case "touch":
			c.mu.Lock()
			ctr.files(arg(i + 1))[arg(i+1)] = "touched\n"
			c.mu.Unlock()
			i++
		case "cat":
			p := arg(i + 1)
			c.mu.Lock()
			content, ok := ctr.files(p)[p]
			c.mu.Unlock()
			if !ok {
				return fail("cat: open %s: no such file or directory", p)
			}
			ctr.write(0, content)
			i++
		case "copy", "write":
			src, dst := arg(i+1), arg(i+2)
			c.mu.Lock()
			content, ok := dst, true
			if args[i] == "write" { // write PATH TEXT
				dst = src
			} else {
				content, ok = ctr.files(src)[src]
			}
			if ok {
				ctr.files(dst)[dst] = content
			}
			c.mu.Unlock()
			if !ok {
				return fail("copy: open %s: no such file or directory", src)
			}
			i += 2
		case "size":
			p := arg(i + 1)
			c.mu.Lock()
			content, ok := ctr.files(p)[p]
			c.mu.Unlock()
			if !ok {
				return fail("size: stat %s: no such file or directory", p)
			}
			ctr.write(0, fmt.Sprintf("%s has %d bytes\n", p, len(content)))
			i++
		case "fetch", "upload":
			// HTTP, for real: the URL in the variable is a presigned URL of a test's S3.
			name, p := arg(i+1), arg(i+2)
			c.mu.Lock()
			u := ctr.env[name]
			content, ok := ctr.files(p)[p]
			c.mu.Unlock()
			if args[i] == "upload" && !ok {
				return fail("upload: open %s: no such file or directory", p)
			}
			got, err := transfer(args[i], u, content)
			if err != nil {
				return fail("%s %s: %v", args[i], name, err)
			}
			if args[i] == "fetch" {
				c.mu.Lock()
				ctr.files(p)[p] = got
				c.mu.Unlock()
			}
			i += 2
		case "exists":
			if ctr.exists(arg(i + 1)) {
				return 0, exitNormal
			}
			return 1, exitNormal
		case "exit":
			code, err := num(i + 1)
			if err != nil {
				return fail("%v", err)
			}
			return code, exitNormal
		default:
			return fail("unknown step %q", args[i])
		}
	}
	return 0, exitNormal
}

// files returns the file system holding path: a task volume mounted over it, else the
// container's own (c.mu held).
func (ctr *container) files(path string) map[string]string {
	for _, mp := range ctr.def.MountPoints {
		cp := strings.TrimSuffix(deref(mp.ContainerPath), "/")
		if path == cp || strings.HasPrefix(path, cp+"/") {
			if v, ok := ctr.t.volumes[deref(mp.SourceVolume)]; ok {
				return v
			}
		}
	}
	return ctr.fs
}

func (ctr *container) exists(path string) bool {
	c := ctr.t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	return ctr.existsLocked(path)
}

func (ctr *container) existsLocked(path string) bool {
	fs := ctr.files(path)
	if _, ok := fs[path]; ok {
		return true
	}
	dir := strings.TrimSuffix(path, "/") + "/"
	for p := range fs {
		if strings.HasPrefix(p, dir) {
			return true
		}
	}
	return false
}

// write appends output of stream (0 stdout, 1 stderr) line by line, as the awslogs driver
// cuts it: one event per line, without the newline.
func (ctr *container) write(stream int, s string) {
	c := ctr.t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	s = ctr.pending[stream] + s
	for {
		line, rest, ok := strings.Cut(s, "\n")
		if !ok {
			break
		}
		ctr.emit(line, now)
		s = rest
	}
	ctr.pending[stream] = s
}

// flush emits the partial lines left at exit (c.mu held).
func (ctr *container) flush() {
	now := ctr.t.c.clock.Now()
	for i, p := range ctr.pending {
		if p != "" {
			ctr.emit(p, now)
			ctr.pending[i] = ""
		}
	}
}

func (ctr *container) emit(line string, now time.Time) {
	ctr.lines = append(ctr.lines, line)
	if ctr.stream != nil {
		ctr.stream.events = append(ctr.stream.events, event{
			ts:      now.UnixMilli(),
			msg:     line,
			readyAt: now.Add(ctr.t.c.opts.LogDeliveryDelay),
		})
	}
}

// checkHealth runs due health checks of running containers (c.mu held).
func (t *task) checkHealth(now time.Time) {
	for _, ctr := range t.containers {
		hc := ctr.def.HealthCheck
		if hc == nil || ctr.status != statusRunning {
			continue
		}
		interval := 30 * time.Second
		if hc.Interval != nil {
			interval = time.Duration(*hc.Interval) * time.Second
		}
		interval = min(interval, t.c.opts.HealthCheckInterval)
		if now.Sub(ctr.lastCheck) < interval {
			continue
		}
		ctr.lastCheck = now
		retries := 3
		if hc.Retries != nil {
			retries = int(*hc.Retries)
		}
		var grace time.Duration
		if hc.StartPeriod != nil {
			grace = time.Duration(*hc.StartPeriod) * time.Second
		}
		before := ctr.health
		if ctr.probe(hc.Command) {
			ctr.health = types.HealthStatusHealthy
			ctr.fails = 0
		} else if now.Sub(*ctr.startedAt) >= grace {
			ctr.fails++
			if ctr.fails >= retries {
				ctr.health = types.HealthStatusUnhealthy
			}
		}
		if ctr.health != before {
			t.touch()
		}
	}
}

// probe runs a health check command: CMD or CMD-SHELL with /testjob exists PATH, test -e
// PATH, true, false or exit N (c.mu held).
func (ctr *container) probe(cmd []string) bool {
	if len(cmd) == 0 {
		return false
	}
	var args []string
	switch cmd[0] {
	case "CMD":
		args = cmd[1:]
	case "CMD-SHELL":
		args = strings.Fields(strings.Join(cmd[1:], " "))
	default:
		args = cmd
	}
	if len(args) > 0 && (args[0] == "/testjob" || args[0] == "testjob" || args[0] == "/hashike-testjob") {
		args = args[1:]
	}
	switch {
	case len(args) == 2 && args[0] == "exists":
		return ctr.existsLocked(args[1])
	case len(args) == 3 && args[0] == "test" && (args[1] == "-e" || args[1] == "-f" || args[1] == "-d"):
		return ctr.existsLocked(args[2])
	case len(args) == 1 && args[0] == "true":
		return true
	case len(args) == 2 && args[0] == "exit":
		return args[1] == "0"
	}
	return false
}

func (ctr *container) describe() types.Container {
	out := types.Container{
		ContainerArn:      ptr(ctr.arn),
		TaskArn:           ptr(ctr.t.arn),
		Name:              ctr.def.Name,
		Image:             ctr.def.Image,
		LastStatus:        ptr(ctr.status),
		ExitCode:          ctr.exitCode,
		HealthStatus:      ctr.health,
		Cpu:               ptr(fmt.Sprint(ctr.def.Cpu)),
		NetworkBindings:   []types.NetworkBinding{},
		NetworkInterfaces: []types.NetworkInterface{},
	}
	if ctr.startedAt != nil {
		out.RuntimeId = ptr(ctr.runtimeID)
		out.ImageDigest = ptr("sha256:" + strings.Repeat("0", 64))
	}
	if ctr.def.Memory != nil {
		out.Memory = ptr(fmt.Sprint(*ctr.def.Memory))
	}
	if ctr.def.MemoryReservation != nil {
		out.MemoryReservation = ptr(fmt.Sprint(*ctr.def.MemoryReservation))
	}
	if ctr.reason != "" {
		out.Reason = ptr(ctr.reason)
	}
	return out
}

// transfer GETs url (fetch) or PUTs content to it (upload), as a container's curl would.
func transfer(step, url, content string) (string, error) {
	if url == "" {
		return "", fmt.Errorf("no URL")
	}
	method, body := http.MethodGet, io.Reader(nil)
	if step == "upload" {
		method, body = http.MethodPut, strings.NewReader(content)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return "", err
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("%s: %s", resp.Status, b)
	}
	return string(b), nil
}
