package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"time"
)

// ProgressStats summarises the import's tflog progress lines.
type ProgressStats struct {
	Lines int `json:"lines"`
	// MaxGapSeconds and MaxGapPercent are the largest steps between two
	// consecutive progress lines (the first one counts from the start of
	// the import).
	MaxGapSeconds float64 `json:"max_gap_seconds"`
	MaxGapPercent float64 `json:"max_gap_percent"`
}

// logCapture is the io.Writer behind tflogtest.RootLogger: that logger
// writes JSON lines without timestamps, so each line is stamped as it
// arrives.
type logCapture struct {
	mu      sync.Mutex
	partial bytes.Buffer
	lines   []stampedLine
}

type stampedLine struct {
	at   time.Time
	json []byte
}

func (l *logCapture) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.partial.Write(p)
	for {
		i := bytes.IndexByte(l.partial.Bytes(), '\n')
		if i < 0 {
			return len(p), nil
		}
		line := append([]byte(nil), l.partial.Next(i+1)...)
		l.lines = append(l.lines, stampedLine{at: now, json: line})
	}
}

// progress evaluates the lines internal/vsphere logs as "... progress" and
// "... finished" while it uploads.
func (l *logCapture) progress(start time.Time) ProgressStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	var st ProgressStats
	lastAt, lastPct := start, 0.0
	for _, line := range l.lines {
		var e struct {
			Message string  `json:"@message"`
			Percent float64 `json:"percent"`
		}
		if json.Unmarshal(line.json, &e) != nil {
			continue
		}
		if !strings.HasSuffix(e.Message, " progress") && !strings.HasSuffix(e.Message, " finished") {
			continue
		}
		st.Lines++
		st.MaxGapSeconds = max(st.MaxGapSeconds, line.at.Sub(lastAt).Seconds())
		st.MaxGapPercent = max(st.MaxGapPercent, e.Percent-lastPct)
		lastAt, lastPct = line.at, e.Percent
	}
	return st
}

// text returns everything logged, for error reports.
func (l *logCapture) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, line := range l.lines {
		b.Write(line.json)
	}
	return b.String()
}
