package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The access log's file and its rotation: a relative file resolves against the config's folder,
// rotation takes its defaults, max_age takes days.
func TestLoadAccessLog(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		file       string // relative to the config's folder; "" for none
		rotate     *Rotate
	}{
		{"stdout", "log: {level: info}\n", "", nil},
		{"file without rotation", "log: {access_file: logs/access.log}\n", "logs/access.log", nil},
		{"the issue's example", "log:\n  access_file: logs/access.log\n  rotate: {max_size: 100MiB, max_backups: 10, max_age: 30d, compress: true}\n",
			"logs/access.log", &Rotate{MaxSize: 100 << 20, MaxBackups: 10, MaxAge: 30 * 24 * time.Hour, Compress: true}},
		{"rotation defaults", "log: {access_file: logs/access.log, rotate: {max_size: 0}}\n", "logs/access.log", &Rotate{MaxSize: DefaultRotateMaxSize}},
		{"days and hours", "log: {access_file: logs/access.log, rotate: {max_size: 1MiB, max_age: 1d24h}}\n",
			"logs/access.log", &Rotate{MaxSize: 1 << 20, MaxAge: 48 * time.Hour}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.yaml)
			dir := filepath.Dir(path)
			if err := os.Mkdir(filepath.Join(dir, "logs"), 0o755); err != nil {
				t.Fatal(err)
			}
			c, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			want := ""
			if tt.file != "" {
				want = filepath.Join(dir, tt.file)
			}
			if c.Log.AccessFile != want {
				t.Errorf("access_file = %q, want %q", c.Log.AccessFile, want)
			}
			if (c.Log.Rotate == nil) != (tt.rotate == nil) || c.Log.Rotate != nil && *c.Log.Rotate != *tt.rotate {
				t.Errorf("rotate = %+v, want %+v", c.Log.Rotate, tt.rotate)
			}
		})
	}
}

// Every problem with the access log's keys names its YAML path and line.
func TestLoadAccessLogBad(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		want       []string
	}{
		{"missing folder", "listen: :8080\nlog:\n  access_file: nowhere/access.log\n",
			[]string{`log.access_file: folder "DIR/nowhere" does not exist (line 3)`}},
		{"folder is a file", "log: {access_file: afile/access.log}\n",
			[]string{`log.access_file: "DIR/afile" is a file, not a folder (line 1)`}},
		{"file is a folder", "log: {access_file: static}\n",
			[]string{`log.access_file: "DIR/static" is not a regular file (line 1)`}},
		{"rotate without a file", "log:\n  level: info\n  rotate: {max_size: 1MiB}\n",
			[]string{`log.rotate: rotates log.access_file: give access_file too, or leave rotate out (line 3)`}},
		{"rotation settings", "log:\n  access_file: access.log\n  rotate:\n    max_size: 1500000\n    max_backups: -1\n    max_age: 36h\n",
			[]string{
				`log.rotate.max_size: must be a whole number of MiB, like "100MiB" (rotation counts MiB), got 1500000 bytes (line 4)`,
				`log.rotate.max_backups: must not be negative, got -1 (line 5)`,
				`log.rotate.max_age: must be a whole number of days, like "30d" (rotation counts days), got 36h0m0s (line 6)`,
			}},
		{"too small", "log:\n  access_file: access.log\n  rotate: {max_size: 512KiB}\n",
			[]string{`log.rotate.max_size: must be at least 1MiB, got 524288 bytes (line 3)`}},
		{"not a duration", "log:\n  access_file: access.log\n  rotate: {max_age: 30days, max_size: big}\n",
			[]string{
				`log.rotate.max_age: expected a duration like "5s", "250ms" or "30d", got "30days" (line 3)`,
				`log.rotate.max_size: expected a size like 65536, "64KiB" or "32MiB", got "big" (line 3)`,
			}},
		{"unknown key", "log:\n  access_file: access.log\n  rotate: {max_files: 3}\n",
			[]string{`log.rotate.max_files: unknown key (known keys: compress, max_age, max_backups, max_size) (line 3)`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := loadProblems(t, writeConfig(t, tt.yaml))
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// A folder the process may not write in is a problem at load (check), not a silent lost log.
func TestLoadAccessLogUnwritableFolder(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may write anywhere")
	}
	path := writeConfig(t, "log: {access_file: ro/access.log}\n")
	ro := filepath.Join(filepath.Dir(path), "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), `log.access_file: folder "`+ro+`" is not writable`) {
		t.Errorf("Load error = %v, want the folder named as not writable", err)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "0d": 0, "1d12h": 36 * time.Hour, "1d1h30m": 25*time.Hour + 30*time.Minute,
		"5s": 5 * time.Second, "250ms": 250 * time.Millisecond, "1.5h": 90 * time.Minute} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"d", "1.5d", "-1d", "1d-1h", "1dx", "30days", "106752d", "1d2d", ""} {
		if got, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", in, got)
		}
	}
}
