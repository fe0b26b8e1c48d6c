package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// defaultClockTicks is USER_HZ on Linux when getconf is not available.
const defaultClockTicks = 100

// clockTicks returns USER_HZ (`getconf CLK_TCK`), or 100.
func clockTicks() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		return defaultClockTicks
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil || n <= 0 {
		return defaultClockTicks
	}
	return n
}

// cpuTime reads utime+stime of pid from /proc/<pid>/stat.
func cpuTime(pid int, ticks int64) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b, ticks)
}

// parseStatCPU takes fields 14 and 15 (utime, stime) of a /proc/<pid>/stat
// line. The command name (field 2) may hold spaces and parentheses, so
// counting starts after its last ')'.
func parseStatCPU(b []byte, ticks int64) (time.Duration, error) {
	rp := bytes.LastIndexByte(b, ')')
	if rp < 0 {
		return 0, fmt.Errorf("proc stat: no command field")
	}
	f := strings.Fields(string(b[rp+1:]))
	// f[0] is field 3 (state); utime is field 14 → f[11], stime f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields", len(f)+2)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("proc stat: bad utime/stime %q %q", f[11], f[12])
	}
	return time.Duration(u+s) * time.Second / time.Duration(ticks), nil
}

// peakRSS reads VmHWM of pid from /proc/<pid>/status, in bytes.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseVmHWM(f)
}

func parseVmHWM(f interface{ Read([]byte) (int, error) }) (int64, error) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "VmHWM:") {
			continue
		}
		fs := strings.Fields(line[len("VmHWM:"):])
		if len(fs) < 1 {
			break
		}
		kb, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc status: VmHWM %q", line)
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("proc status: no VmHWM")
}

// cpuSnap is the machine's busy CPU time and this process's CPU time at one
// moment, to tell how much of the machine other processes took.
type cpuSnap struct {
	at   time.Time
	host time.Duration // busy time of all CPUs (steal included)
	self time.Duration
}

// snapCPU reads /proc/stat and /proc/self/stat; errors give zeros.
func snapCPU(ticks int64) cpuSnap {
	s := cpuSnap{at: time.Now()}
	s.self, _ = cpuTime(os.Getpid(), ticks)
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	s.host = parseHostBusy(b, ticks)
	return s
}

// parseHostBusy sums user, nice, system, irq, softirq and steal of the
// "cpu" line of /proc/stat.
func parseHostBusy(b []byte, ticks int64) time.Duration {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
		v, _ := strconv.ParseInt(f[i], 10, 64)
		busy += v
	}
	return time.Duration(busy) * time.Second / time.Duration(ticks)
}

// contention is how the machine's CPU was shared between two snapshots.
type contention struct {
	wall, self, others time.Duration
}

// between computes the contention from a to b, given the relay's CPU time
// in that span (zero when it was not running).
func between(a, b cpuSnap, relay time.Duration) contention {
	c := contention{wall: b.at.Sub(a.at), self: b.self - a.self}
	c.others = max(b.host-a.host-c.self-relay, 0)
	return c
}

// String prints cores used by the bench and by other processes.
func (c contention) String() string {
	if c.wall <= 0 {
		return "unknown"
	}
	w := c.wall.Seconds()
	return fmt.Sprintf("bench process %.2f cores, other processes %.2f cores (of %d)",
		c.self.Seconds()/w, c.others.Seconds()/w, runtime.NumCPU())
}
