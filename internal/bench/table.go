package bench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Goals the issue sets for the provider's import.
const (
	GoalMaxRSS        = 64 << 20 // peak RSS during an import
	GoalLimitFraction = 0.9      // of the plain PUT's throughput
	GoalGapSeconds    = 5.0      // between progress lines ...
	GoalGapPercent    = 5.0      // ... or this much progress
)

// durations picks one figure of every sample, for median.
func durations(ss []Sample, figure func(Sample) time.Duration) []time.Duration {
	var out []time.Duration
	for _, s := range ss {
		out = append(out, figure(s))
	}
	return out
}

func walls(ss []Sample) []time.Duration {
	return durations(ss, func(s Sample) time.Duration { return s.Wall })
}

func cpus(ss []Sample) []time.Duration {
	return durations(ss, func(s Sample) time.Duration { return s.CPU })
}

func secs(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func maxRSS(ss []Sample) int64 {
	var m int64
	for _, s := range ss {
		m = max(m, s.MaxRSS)
	}
	return m
}

func written(ss ...Sample) int {
	n := 0
	for _, s := range ss {
		n += len(s.Written)
	}
	return n
}

// WriteTable prints the results as Markdown tables followed by the goals
// and whether each is met.
func (r *Report) WriteTable(w io.Writer, runs int) {
	fmt.Fprintf(w, "CPUs: %d (the simulator, the importer and the harness share them); runs per importer and size: %d; times are medians of whole processes (login included), MiB/s = OVA bytes / time; peak RSS is the highest VmHWM of any run.\n\n", r.CPUs, runs)
	fmt.Fprintln(w, "| disk data | provider | govc | plain PUT (limit) | provider:govc | provider:limit | peak RSS provider | peak RSS govc | peak RSS PUT |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, s := range r.Sizes {
		p, g, u := median(walls(s.Provider)), median(walls(s.Govc)), median(walls(s.Put))
		cell := func(d time.Duration) string {
			if d == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f s, %.0f MiB/s", d.Seconds(), mibps(s.OVABytes, d))
		}
		ratio := func(a, b time.Duration) string {
			if a == 0 || b == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f", b.Seconds()/a.Seconds()) // throughput ratio
		}
		rss := func(ss []Sample) string {
			if len(ss) == 0 {
				return "-"
			}
			return fmt.Sprintf("%.1f MiB", mib(maxRSS(ss)))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", sizeLabel(s.DataBytes), cell(p), cell(g), cell(u),
			ratio(p, g), ratio(p, u), rss(s.Provider), rss(s.Govc), rss(s.Put))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "CPU time per import, medians: the importer's own (user + system, from wait4) and the simulator's while that import ran (from /proc; in brackets its kernel part).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| disk data | CPU provider | CPU govc | CPU plain PUT | provider CPU : govc CPU | simulator CPU during provider | during govc | during PUT |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, s := range r.Sizes {
		p, g, u := median(cpus(s.Provider)), median(cpus(s.Govc)), median(cpus(s.Put))
		ratio := "-"
		if p > 0 && g > 0 {
			ratio = fmt.Sprintf("%.2f", p.Seconds()/g.Seconds())
		}
		sim := func(ss []Sample) string {
			all := median(durations(ss, func(s Sample) time.Duration { return s.SimCPU }))
			sys := median(durations(ss, func(s Sample) time.Duration { return s.SimSys }))
			if all <= 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f s (%.2f s)", all.Seconds(), sys.Seconds())
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", sizeLabel(s.DataBytes), secs(p), secs(g), secs(u), ratio,
			sim(s.Provider), sim(s.Govc), sim(s.Put))
	}
	if len(r.Sizes) > 0 && len(r.Sizes[0].ProviderURL) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Import from an http:// URL on loopback, the same number of alternating runs: median time, bytes the server sent / OVA size and requests (the largest of any run), peak RSS.")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| disk data | provider | served / OVA (requests) | peak RSS | govc | served / OVA (requests) | peak RSS | provider:govc |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
		for _, s := range r.Sizes {
			cells := func(ss []Sample) string {
				if len(ss) == 0 {
					return " - | - | - |"
				}
				var served, requests int64
				for _, x := range ss {
					served, requests = max(served, x.Served), max(requests, x.Requests)
				}
				d := median(walls(ss))
				return fmt.Sprintf(" %.2f s, %.0f MiB/s | %.3f (%d) | %.1f MiB |", d.Seconds(), mibps(s.OVABytes, d),
					float64(served)/float64(s.OVABytes), requests, mib(maxRSS(ss)))
			}
			ratio := "-"
			if p, g := median(walls(s.ProviderURL)), median(walls(s.GovcURL)); p > 0 && g > 0 {
				ratio = fmt.Sprintf("%.2f", g.Seconds()/p.Seconds())
			}
			fmt.Fprintf(w, "| %s |%s%s %s |\n", sizeLabel(s.DataBytes), cells(s.ProviderURL), cells(s.GovcURL), ratio)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| disk data | progress lines per provider import | largest gap between lines | files written by provider / govc |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, s := range r.Sizes {
		all := append([]Sample(nil), s.Provider...)
		all = append(all, s.ProviderURL...)
		var lines []string
		var gapS, gapP float64
		for _, p := range all {
			lines = append(lines, fmt.Sprint(p.Progress.Lines))
			gapS, gapP = max(gapS, p.Progress.MaxGapSeconds), max(gapP, p.Progress.MaxGapPercent)
		}
		govc := append([]Sample(nil), s.Govc...)
		govc = append(govc, s.GovcURL...)
		fmt.Fprintf(w, "| %s | %s | %.2f s / %.0f %% | %d / %d |\n", sizeLabel(s.DataBytes), strings.Join(lines, ", "), gapS, gapP, written(all...), written(govc...))
	}
	fmt.Fprintln(w)
	for _, g := range r.Goals() {
		mark := "MET"
		if !g.Met {
			mark = "NOT MET"
		}
		fmt.Fprintf(w, "- %s: %s (%s)\n", g.Name, mark, g.Detail)
	}
}

// Goal is one of the targets, judged on the measured figures.
type Goal struct {
	Name, Detail string
	Met          bool
}

// Goals judges the report against the targets.
func (r *Report) Goals() []Goal {
	var goals []Goal
	var rssMin, rssMax int64 = 1 << 62, 0
	var worstLimit, worstGovc, worstGovcURL = 1e9, 1e9, 1e9
	var served []string
	servedOK := true
	gapOK := true
	var maxGapS, maxGapP float64
	writes := 0
	for _, s := range r.Sizes {
		all := append([]Sample(nil), s.Provider...)
		all = append(all, s.ProviderURL...)
		for _, p := range all {
			rssMin, rssMax = min(rssMin, p.MaxRSS), max(rssMax, p.MaxRSS)
			maxGapS, maxGapP = max(maxGapS, p.Progress.MaxGapSeconds), max(maxGapP, p.Progress.MaxGapPercent)
			if p.Progress.Lines == 0 || p.Progress.MaxGapSeconds > GoalGapSeconds+0.5 {
				gapOK = false
			}
		}
		writes += written(all...)
		p, g, u := median(walls(s.Provider)), median(walls(s.Govc)), median(walls(s.Put))
		if p > 0 && u > 0 {
			worstLimit = min(worstLimit, u.Seconds()/p.Seconds())
		}
		if p > 0 && g > 0 {
			worstGovc = min(worstGovc, g.Seconds()/p.Seconds())
		}
		if p, g := median(walls(s.ProviderURL)), median(walls(s.GovcURL)); p > 0 && g > 0 {
			worstGovcURL = min(worstGovcURL, g.Seconds()/p.Seconds())
		}
		if len(s.ProviderURL) > 0 {
			var most int64
			for _, x := range s.ProviderURL {
				most = max(most, x.Served)
				if x.Served != s.OVABytes || x.Requests != 1 {
					servedOK = false
				}
			}
			served = append(served, fmt.Sprintf("%s: %.3f", sizeLabel(s.DataBytes), float64(most)/float64(s.OVABytes)))
		}
	}
	if rssMax > 0 {
		goals = append(goals, Goal{Name: "provider peak RSS <= 64 MiB",
			Met: rssMax <= GoalMaxRSS, Detail: fmt.Sprintf("%.1f to %.1f MiB", mib(rssMin), mib(rssMax))})
		goals = append(goals, Goal{Name: "provider peak RSS flat across sizes (growth <= 4 MiB from the smallest to the largest)",
			Met: rssMax-rssMin <= 4<<20, Detail: fmt.Sprintf("grows %.1f MiB", mib(rssMax-rssMin))})
	}
	if worstLimit < 1e9 {
		goals = append(goals, Goal{Name: "provider throughput >= 0.9 of the plain PUT", Met: worstLimit >= GoalLimitFraction, Detail: fmt.Sprintf("worst size %.2f", worstLimit)})
	}
	if worstGovc < 1e9 {
		goals = append(goals, Goal{Name: "provider throughput not below govc, from a file", Met: worstGovc >= 1, Detail: fmt.Sprintf("worst size %.2f of govc's", worstGovc)})
	}
	if worstGovcURL < 1e9 {
		goals = append(goals, Goal{Name: "provider throughput not below govc, from an http URL", Met: worstGovcURL >= 1, Detail: fmt.Sprintf("worst size %.2f of govc's", worstGovcURL)})
	}
	if len(served) > 0 {
		goals = append(goals, Goal{Name: "an http URL is read once (one request, bytes served = OVA size)", Met: servedOK, Detail: strings.Join(served, ", ")})
	}
	goals = append(goals, Goal{Name: "provider writes no file while importing", Met: writes == 0, Detail: fmt.Sprintf("%d files", writes)})
	goals = append(goals, Goal{Name: "a progress line at least every 5 s", Met: gapOK,
		Detail: fmt.Sprintf("largest gap %.2f s", maxGapS)})
	goals = append(goals, Goal{Name: "a progress line at least every 5 % (the issue's 'or 5 %', read strictly)", Met: maxGapP <= GoalGapPercent+0.5,
		Detail: fmt.Sprintf("largest step %.0f %%", maxGapP)})
	goals = append(goals, Goal{Name: "nothing left behind", Met: len(r.LeftVMs) == 0 && len(r.OpenLeases) == 0,
		Detail: fmt.Sprintf("%d VMs, %d open leases", len(r.LeftVMs), len(r.OpenLeases))})
	return goals
}
