// Command simwarmup measures image warm-up (sim.Config.WarmImages) in the simulator and
// prints docs/sim.md's warm-up table: for each workload and launch-latency preset, the
// hashike policy's queued->started wait percentiles and cost with warm-up off and with the
// 3 and 10 images most submitted in the last hour warmed on every new instance: shared
// (tasks placed on a warming instance, the live adapter's design) or exclusive (kept off it
// until warm), the pulls in parallel (each at full speed, the simulator's usual model) or
// sequential (a job's pull waits for the warm-up's).
//
//	go run ./docs/simwarmup > /tmp/warmup.md
//
// The traces have no image column, so the jobs are given images here (the model, stated in
// docs/sim.md): 50 images with Zipf(1.1) popularity, drawn once per job group (an
// alibaba2017 job's tasks, the name before its first "-", share one; every openb pod and
// synthetic job is its own group), each image 200-2,000 MiB (uniform, drawn once), pulled
// at the simulator's 100 MiB/s. The same seed gives the same table.
package main

import (
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/hashike/hashike/sim"
)

const images = 50

type variant struct {
	images                int
	exclusive, sequential bool
}

func (v variant) String() string {
	if v.images == 0 {
		return "off"
	}
	place, pulls := "shared", "parallel"
	if v.exclusive {
		place = "exclusive"
	}
	if v.sequential {
		pulls = "sequential"
	}
	return fmt.Sprintf("%d, %s, %s", v.images, place, pulls)
}

var variants = []variant{{0, false, false},
	{3, false, false}, {10, false, false}, {3, false, true}, {10, false, true},
	{3, true, false}, {10, true, false}, {3, true, true}, {10, true, true}}

type workload struct {
	name, file, cluster string
	load                func(io.Reader, string) (sim.Workload, error)
}

func main() {
	shared := flag.String("data", "../shared/data", "the directory of the shared traces")
	seed := flag.Uint64("seed", 1, "the simulator's seed and the image draw's")
	flag.Parse()
	wls := []workload{
		{"cron (bursty, synthetic)", "synthetic:cron", "", nil},
		{"alibaba2017", *shared + "/alibaba2017_batch.csv", "", sim.ReadTrace},
		{"openb", *shared + "/openb_pod_list_default.csv", "examples/sim/openb-cluster.json", sim.ConvertOpenB},
	}
	sizes := map[string]int{}
	r := rand.New(rand.NewPCG(*seed, 0x1a6e))
	for k := range images {
		sizes[image(k)] = 200 + r.IntN(1801)
	}
	fmt.Println("| workload | preset | warm-up | wait p50 s | p95 s | p99 s | cost USD | instance-h | launches | warm-ups (pulls) |")
	fmt.Println("|---|---|---|--:|--:|--:|--:|--:|--:|--:|")
	for _, w := range wls {
		wl, err := load(w)
		if err != nil {
			fail(err)
		}
		wl = withImages(wl, *seed)
		cfg := sim.DefaultCluster()
		if w.cluster != "" {
			data, err := os.ReadFile(w.cluster)
			if err != nil {
				fail(err)
			}
			if cfg, err = sim.ParseCluster(data, w.cluster); err != nil {
				fail(err)
			}
		}
		cfg.ImageMiB = sizes
		cfg.OmitRecords = true
		for _, preset := range []string{"fast", "typical", "slow"} {
			cfg.Latency = sim.Presets[preset]
			for _, v := range variants {
				cfg.WarmImages, cfg.WarmExclusive, cfg.WarmSequential = v.images, v.exclusive, v.sequential
				p, err := sim.NewPolicy(cfg, "hashike")
				if err != nil {
					fail(err)
				}
				res, err := sim.Run(sim.ForPolicy(cfg, "hashike"), wl, p, *seed)
				if err != nil {
					fail(err)
				}
				m := res.Metrics
				fmt.Printf("| %s | %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %d | %d (%d) |\n", w.name, preset, v,
					m.WaitP50, m.WaitP95, m.WaitP99, m.CostUSD, m.InstanceHours.Total, m.Launches, m.WarmUps, m.WarmUpPulls)
			}
		}
	}
}

func load(w workload) (sim.Workload, error) {
	if name, ok := strings.CutPrefix(w.file, "synthetic:"); ok {
		return sim.Synthetic(name, 1)
	}
	f, err := os.Open(w.file)
	if err != nil {
		return sim.Workload{}, err
	}
	defer f.Close()
	return w.load(f, w.file)
}

func image(k int) string { return fmt.Sprintf("img-%02d", k) }

// withImages gives each job group one of the images, Zipf(1.1)-popular, drawn from a hash
// of the group and the seed (so a group keeps its image whatever else is in the trace).
func withImages(wl sim.Workload, seed uint64) sim.Workload {
	var cum [images]float64
	total := 0.0
	for k := range images {
		total += 1 / math.Pow(float64(k+1), 1.1)
		cum[k] = total
	}
	jobs := make([]sim.Job, len(wl.Jobs))
	for i, j := range wl.Jobs {
		group := fmt.Sprint(i)
		if g, _, ok := strings.Cut(j.Name, "-t"); ok && strings.HasPrefix(j.Name, "j") {
			group = g // alibaba2017's jNNN-tNNN-NNN: the job's tasks share its image
		}
		h := fnv.New64a()
		fmt.Fprintf(h, "%d/%s", seed, group)
		u := rand.New(rand.NewPCG(h.Sum64(), seed)).Float64() * total
		k := 0
		for k < images-1 && cum[k] < u {
			k++
		}
		j.Image = image(k)
		jobs[i] = j
	}
	wl.Jobs = jobs
	return wl
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "simwarmup:", err)
	os.Exit(1)
}
