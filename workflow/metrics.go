package workflow

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's Prometheus metrics. Run counts come from the
// database at scrape time, so every daemon on a shared database reports the
// same totals; the counters and histograms are this process's own.
type metrics struct {
	imagesPatched prometheus.Counter
	cvesFixed     prometheus.Counter
	scanSeconds   prometheus.Histogram
	patchSeconds  prometheus.Histogram
	runsFinished  *prometheus.CounterVec
	runs          *prometheus.Desc
	store         RunStore
}

func newMetrics(store RunStore) *metrics {
	buckets := []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
	return &metrics{
		imagesPatched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "patchloop_images_patched_total", Help: "Images patched and pushed by this process.",
		}),
		cvesFixed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "patchloop_cves_fixed_total", Help: "Vulnerabilities fixed by patches pushed by this process.",
		}),
		scanSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "patchloop_scan_duration_seconds", Help: "Duration of image scans.", Buckets: buckets,
		}),
		patchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "patchloop_patch_duration_seconds", Help: "Duration of image patches.", Buckets: buckets,
		}),
		runsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patchloop_runs_finished_total", Help: "Task runs finished by this process, by task and status.",
		}, []string{"task", "status"}),
		runs: prometheus.NewDesc("patchloop_runs", "Task runs recorded in the database, by task and status.",
			[]string{"task", "status"}, nil),
		store: store,
	}
}

func (m *metrics) patched(fixed int) {
	m.imagesPatched.Inc()
	m.cvesFixed.Add(float64(fixed))
}

func (m *metrics) finished(t Task, s Status) {
	m.runsFinished.WithLabelValues(string(t), string(s)).Inc()
}

var _ prometheus.Collector = (*metrics)(nil)

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.imagesPatched.Describe(ch)
	m.cvesFixed.Describe(ch)
	m.scanSeconds.Describe(ch)
	m.patchSeconds.Describe(ch)
	m.runsFinished.Describe(ch)
	ch <- m.runs
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.imagesPatched.Collect(ch)
	m.cvesFixed.Collect(ch)
	m.scanSeconds.Collect(ch)
	m.patchSeconds.Collect(ch)
	m.runsFinished.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := m.store.CountRuns(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(m.runs, err)
		return
	}
	for _, c := range counts {
		ch <- prometheus.MustNewConstMetric(m.runs, prometheus.GaugeValue, float64(c.N), string(c.Task), string(c.Status))
	}
}
