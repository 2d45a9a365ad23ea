// Command hashike-testjob is the workload hashike's tests and demo run in containers. It is a
// static program (CGO_ENABLED=0) so it runs in an image built FROM scratch, with no registry.
//
// Its arguments are a script of steps run in order:
//
//	print N [TEXT]     N lines "TEXT i" (default TEXT "line") to stdout
//	stderr N [TEXT]    N lines to stderr
//	bytes N            about N bytes of 100-byte log lines to stdout
//	partial TEXT       TEXT to stdout with no trailing newline
//	env NAME           "NAME=value" to stdout
//	sleep DURATION     sleep (Go duration text)
//	alloc MIB          allocate and touch MIB mebibytes, then hold them
//	burn DURATION      use DURATION of CPU time (Go duration text), however long it takes
//	ignore-term        ignore SIGTERM from now on
//	trap-term CODE     on SIGTERM print "caught SIGTERM" and exit CODE
//	touch PATH         create PATH (and its directories)
//	cat PATH           print PATH's content
//	copy SRC DST       copy the file SRC to DST
//	write PATH TEXT    write TEXT (no newline) to the file PATH
//	size PATH          print "PATH has N bytes"
//	fetch VAR PATH     HTTP GET the URL in the variable VAR into the file PATH
//	upload VAR PATH    HTTP PUT the file PATH to the URL in the variable VAR
//	exists PATH        exit 0 if PATH exists, else 1 (for health checks)
//	exit CODE          exit with CODE
//	gh-runner [CONCL]  a fake GitHub Actions runner: register with the JIT config in
//	                   ACTIONS_RUNNER_INPUT_JITCONFIG, take one job, run it for its duration,
//	                   report it (CONCL, default success); see ghrunner.go
//	gh-crash           register with the JIT config, drop offline, exit 1
//
// With no arguments it prints a greeting and exits 0.
//
// It stands in for /bin/sh too (the image has none), for hashike's --script: arguments
// "/bin/sh -c SCRIPT [NAME ARGS...]" or "/bin/sh FILE" run the steps that SCRIPT or FILE
// holds, separated by white space; a SCRIPT that fetches HASHIKE_SCRIPT_URL (hashike's
// command for a script passed by reference on ECS) runs the steps fetched from it.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var held [][]byte

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		fmt.Println("hello from hashike-testjob")
		return
	}
	args = shell(args)
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	defer out.Flush()
	num := func(i int) int {
		if i >= len(args) {
			fail("step %q needs an argument", args[i-1])
		}
		n, err := strconv.Atoi(args[i])
		if err != nil {
			fail("step %q: %v", args[i-1], err)
		}
		return n
	}
	text := func(i int, def string) (string, int) {
		if i < len(args) && !isStep(args[i]) {
			return args[i], 1
		}
		return def, 0
	}
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "print", "stderr":
			n := num(i + 1)
			t, used := text(i+2, "line")
			w := out
			if args[i] == "stderr" {
				out.Flush()
				w = bufio.NewWriter(os.Stderr)
			}
			for k := 1; k <= n; k++ {
				fmt.Fprintf(w, "%s %d\n", t, k)
			}
			w.Flush()
			i += 1 + used
		case "bytes":
			n := num(i + 1)
			line := []byte(strings.Repeat("x", 90))
			for written, k := 0, 0; written < n; k++ {
				s := fmt.Sprintf("%08d %s\n", k, line)
				out.WriteString(s)
				written += len(s)
			}
			out.Flush()
			i++
		case "partial":
			t, _ := text(i+1, "")
			out.WriteString(t)
			out.Flush()
			i++
		case "env":
			name, _ := text(i+1, "")
			fmt.Fprintf(out, "%s=%s\n", name, os.Getenv(name))
			out.Flush()
			i++
		case "sleep":
			d, err := time.ParseDuration(args[i+1])
			if err != nil {
				fail("sleep: %v", err)
			}
			out.Flush()
			time.Sleep(d)
			i++
		case "alloc":
			mib := num(i + 1)
			for k := 0; k < mib; k++ {
				b := make([]byte, 1<<20)
				for j := 0; j < len(b); j += 4096 {
					b[j] = 1
				}
				held = append(held, b)
			}
			fmt.Fprintf(out, "allocated %d MiB\n", mib)
			out.Flush()
			i++
		case "burn":
			if i+1 >= len(args) {
				fail("step burn needs a duration")
			}
			d, err := time.ParseDuration(args[i+1])
			if err != nil {
				fail("step burn: %v", err)
			}
			var x uint64
			for end := cpuTime() + d; cpuTime() < end; {
				for k := 0; k < 100000; k++ {
					x = x*6364136223846793005 + 1442695040888963407
				}
			}
			fmt.Fprintf(out, "burned %s (%d)\n", d, x%10)
			out.Flush()
			i++
		case "ignore-term":
			signal.Ignore(syscall.SIGTERM)
		case "trap-term":
			code := num(i + 1)
			c := make(chan os.Signal, 1)
			signal.Notify(c, syscall.SIGTERM)
			go func() {
				<-c
				out.Flush()
				fmt.Println("caught SIGTERM")
				os.Exit(code)
			}()
			i++
		case "touch":
			p := args[i+1]
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				fail("touch: %v", err)
			}
			if err := os.WriteFile(p, []byte("touched\n"), 0o644); err != nil {
				fail("touch: %v", err)
			}
			i++
		case "copy":
			b, err := os.ReadFile(args[i+1])
			if err != nil {
				fail("copy: %v", err)
			}
			if err := os.WriteFile(args[i+2], b, 0o644); err != nil {
				fail("copy: %v", err)
			}
			i += 2
		case "write":
			if err := os.WriteFile(args[i+1], []byte(args[i+2]), 0o644); err != nil {
				fail("write: %v", err)
			}
			i += 2
		case "size":
			fi, err := os.Stat(args[i+1])
			if err != nil {
				fail("size: %v", err)
			}
			fmt.Fprintf(out, "%s has %d bytes\n", args[i+1], fi.Size())
			i++
		case "fetch", "upload":
			if err := transfer(args[i], os.Getenv(args[i+1]), args[i+2]); err != nil {
				fail("%s %s: %v", args[i], args[i+1], err)
			}
			i += 2
		case "cat":
			b, err := os.ReadFile(args[i+1])
			if err != nil {
				fail("cat: %v", err)
			}
			out.Write(b)
			out.Flush()
			i++
		case "exists":
			out.Flush()
			if _, err := os.Stat(args[i+1]); err != nil {
				os.Exit(1)
			}
			os.Exit(0)
		case "gh-runner":
			out.Flush()
			c, used := text(i+1, "")
			ghRunnerStep("gh-runner", c)
			i += used
		case "gh-crash":
			out.Flush()
			ghRunnerStep("gh-crash", "")
		case "exit":
			code := num(i + 1)
			out.Flush()
			os.Exit(code)
		default:
			fail("unknown step %q", args[i])
		}
	}
}

func isStep(s string) bool {
	switch s {
	case "print", "stderr", "bytes", "partial", "env", "sleep", "alloc", "burn", "ignore-term", "trap-term", "touch", "copy", "write", "size", "fetch", "upload", "cat", "exists", "exit", "gh-runner", "gh-crash":
		return true
	}
	return false
}

// cpuTime is the CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "hashike-testjob: "+format+"\n", args...)
	os.Exit(99)
}

// transfer GETs url into the file p (fetch) or PUTs the file p to it (upload), as a
// container's curl would with a presigned URL.
func transfer(step, url, p string) error {
	if url == "" {
		return fmt.Errorf("no URL")
	}
	var body io.Reader
	method := http.MethodGet
	if step == "upload" {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		method, body = http.MethodPut, bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	if step == "fetch" {
		return os.WriteFile(p, b, 0o644)
	}
	return nil
}

// shell turns "/bin/sh -c SCRIPT ..." and "/bin/sh FILE" into the script's steps.
func shell(args []string) []string {
	if len(args) < 2 || args[0] != "/bin/sh" {
		return args
	}
	var script string
	switch {
	case args[1] == "-c" && len(args) > 2 && strings.Contains(args[2], "$HASHIKE_SCRIPT_URL"):
		f, err := os.CreateTemp("", "script")
		if err != nil {
			fail("sh: %v", err)
		}
		f.Close()
		if err := transfer("fetch", os.Getenv("HASHIKE_SCRIPT_URL"), f.Name()); err != nil {
			fail("sh: fetch the script: %v", err)
		}
		b, err := os.ReadFile(f.Name())
		if err != nil {
			fail("sh: %v", err)
		}
		script = string(b)
	case args[1] == "-c" && len(args) > 2:
		script = args[2]
	default:
		b, err := os.ReadFile(args[1])
		if err != nil {
			fail("sh: %v", err)
		}
		script = string(b)
	}
	return strings.Fields(script)
}
