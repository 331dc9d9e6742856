// Package deploy holds the files that run frontgate elsewhere: a Dockerfile, Kubernetes manifests and
// a systemd unit. Its tests hold those files to the real binary: flags that exist, ports the configs
// listen on, probe paths the admin listener answers, grace periods longer than the drain.
package deploy

import (
	"debug/elf"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/internal/e2e"
)

var binary string

func TestMain(m *testing.M) { e2e.Main(m, &binary) }

// manifests decodes every document of the kubernetes folder, by kind.
func manifests(t *testing.T) map[string]map[string]any {
	t.Helper()
	files, _ := filepath.Glob("kubernetes/*.yaml")
	byKind := map[string]map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		kind, _ := doc["kind"].(string)
		if kind == "" || byKind[kind] != nil {
			t.Fatalf("%s: kind %q missing or given twice", f, kind)
		}
		byKind[kind] = doc
	}
	return byKind
}

// dig walks m by keys and list indexes.
func dig(t *testing.T, m any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			mm, ok := m.(map[string]any)
			if !ok {
				t.Fatalf("at %v: not a mapping", path)
			}
			m = mm[k]
		case int:
			l, ok := m.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("at %v: not a list of %d", path, k+1)
			}
			m = l[k]
		}
	}
	return m
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	n, err2 := strconv.Atoi(p)
	if err != nil || err2 != nil {
		t.Fatalf("address %q has no port", addr)
	}
	return n
}

// The manifests agree with each other and with the binary: the ConfigMap's config passes check and
// serves the probe paths on the admin port the probes name, the container's args are serve's real
// flags, the grace period covers delay plus drain, and the Service and budget select the pods.
func TestKubernetesManifests(t *testing.T) {
	m := manifests(t)
	for _, kind := range []string{"ConfigMap", "Deployment", "Service", "PodDisruptionBudget"} {
		if m[kind] == nil {
			t.Fatalf("no %s among kubernetes/*.yaml", kind)
		}
	}
	dir := t.TempDir()
	confText, _ := dig(t, m["ConfigMap"], "data", "config.yaml").(string)
	confPath := e2e.WriteFile(t, dir, "config.yaml", confText)
	cfg, err := config.Load(confPath)
	if err != nil {
		t.Fatalf("the ConfigMap's config.yaml: %v", err)
	}
	if !cfg.Watch {
		t.Error("the ConfigMap's config should say watch: true, so that edits reach running pods")
	}

	pod := dig(t, m["Deployment"], "spec", "template", "spec")
	c := dig(t, pod, "containers", 0)
	ports := map[string]int{}
	for _, p := range dig(t, c, "ports").([]any) {
		ports[dig(t, p, "name").(string)] = dig(t, p, "containerPort").(int)
	}
	if ports["http"] != port(t, cfg.Listen) || ports["admin"] != port(t, cfg.Admin.Listen) {
		t.Errorf("container ports %v; the config listens on %s and the admin on %s", ports, cfg.Listen, cfg.Admin.Listen)
	}
	grace := time.Duration(dig(t, pod, "terminationGracePeriodSeconds").(int)) * time.Second
	if need := cfg.Server.ShutdownDelay + cfg.Server.ShutdownTimeout; grace <= need || cfg.Server.ShutdownDelay == 0 {
		t.Errorf("terminationGracePeriodSeconds %v must exceed shutdown_delay + shutdown_timeout (%v), with a delay set", grace, need)
	}
	mount := dig(t, c, "volumeMounts", 0)
	if dig(t, mount, "subPath") != nil {
		t.Error("the config folder is mounted with subPath: ConfigMap edits would never reach the pod")
	}

	// The container's args, with the config path pointed at the copy and the listeners at free ports.
	args := slices.Clone(dig(t, c, "args").([]any))
	var argv []string
	for _, a := range args {
		s := a.(string)
		if s == filepath.Join(dig(t, mount, "mountPath").(string), "config.yaml") {
			s = confPath
		}
		argv = append(argv, s)
	}
	if argv[0] != "serve" {
		t.Fatalf("container args %v: want serve first", argv)
	}
	adminAddr := e2e.FreeAddr(t)
	local := strings.Replace(strings.Replace(confText, `":9901"`, strconv.Quote(adminAddr), 1), "watch: true", "watch: false", 1)
	e2e.WriteFile(t, dir, "config.yaml", local)
	proc := e2e.Start(t, binary, append(argv, "-listen", "127.0.0.1:0")...)
	proc.Logs.WaitFor(t, "the admin listener's listening line", func(l string) bool {
		e := e2e.ParseEntry(l)
		return e != nil && e["msg"] == "listening" && e["addr"] == adminAddr
	})
	for _, probe := range []string{"readinessProbe", "livenessProbe"} {
		get := dig(t, c, probe, "httpGet")
		if dig(t, get, "port") != "admin" {
			t.Errorf("%s port %v: want the admin port", probe, dig(t, get, "port"))
		}
		resp, err := http.Get("http://" + adminAddr + dig(t, get, "path").(string))
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s %v on the admin listener: %v %v", probe, dig(t, get, "path"), resp, err)
		} else {
			resp.Body.Close()
		}
	}
	if resp, err := http.Get(proc.Base + "/"); err != nil || resp.StatusCode != 200 {
		t.Errorf("public listener: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	podLabels := dig(t, m["Deployment"], "spec", "template", "metadata", "labels").(map[string]any)
	for _, sel := range []any{
		dig(t, m["Deployment"], "spec", "selector", "matchLabels"),
		dig(t, m["Service"], "spec", "selector"),
		dig(t, m["PodDisruptionBudget"], "spec", "selector", "matchLabels"),
	} {
		for k, v := range sel.(map[string]any) {
			if podLabels[k] != v {
				t.Errorf("selector %v does not select the pods (labels %v)", sel, podLabels)
			}
		}
	}
	if tp := dig(t, m["Service"], "spec", "ports", 0, "targetPort"); tp != "http" {
		t.Errorf("Service targetPort %v: want the container's http port", tp)
	}
	sc := dig(t, pod, "securityContext")
	if dig(t, sc, "runAsNonRoot") != true || dig(t, sc, "runAsUser") != 65532 {
		t.Errorf("pod securityContext %v: want non-root 65532 (the image's user)", sc)
	}
}

// dockerfile is the Dockerfile's instructions, each with its arguments.
func dockerfile(t *testing.T) [][2]string {
	t.Helper()
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]string
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, args, _ := strings.Cut(line, " ")
		out = append(out, [2]string{strings.ToUpper(instr), strings.TrimSpace(args)})
	}
	return out
}

// The Dockerfile's build line makes a static binary (nothing for distroless to lack), its user is
// not root, its ports are the embedded default's, and its command, run as that user, serves the
// embedded default.
func TestDockerfile(t *testing.T) {
	var build string
	var entry, cmd []string
	var expose []int
	user := ""
	for _, in := range dockerfile(t) {
		switch in[0] {
		case "RUN":
			if strings.Contains(in[1], "go build") {
				build = in[1]
			}
		case "ENTRYPOINT", "CMD":
			var v []string
			if err := json.Unmarshal([]byte(in[1]), &v); err != nil {
				t.Fatalf("%s %s: want the exec (JSON) form, so signals reach frontgate: %v", in[0], in[1], err)
			}
			if in[0] == "CMD" {
				cmd = v
			} else {
				entry = v
			}
		case "USER":
			user = in[1]
		case "EXPOSE":
			for _, p := range strings.Fields(in[1]) {
				n, _ := strconv.Atoi(p)
				expose = append(expose, n)
			}
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q: want a numeric non-root user", user)
	}
	if !slices.Contains(expose, port(t, config.DefaultListen)) {
		t.Errorf("EXPOSE %v lacks the embedded default's port %s", expose, config.DefaultListen)
	}
	out := filepath.Join(t.TempDir(), "frontgate")
	o := regexp.MustCompile(`-o \S+`)
	if build == "" || !o.MatchString(build) {
		t.Fatalf("no `RUN … go build -o …` line in the Dockerfile")
	}
	sh := exec.Command("sh", "-c", o.ReplaceAllString(build, "-o "+out))
	sh.Dir = ".."
	if msg, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's build line: %v\n%s", err, msg)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the built binary is dynamically linked (%v): distroless/static has no libc", p.Type)
		}
	}
	f.Close()
	if len(entry) != 1 || len(cmd) == 0 {
		t.Fatalf("ENTRYPOINT %v CMD %v: want the binary, then its arguments", entry, cmd)
	}
	// Run the image's command as its user (when the test may switch users), on a free port.
	n, _ := strconv.Atoi(uid)
	proc := exec.Command(out, append(cmd, "-listen", "127.0.0.1:0")...)
	if os.Getuid() == 0 {
		for d := filepath.Dir(out); d != os.TempDir(); d = filepath.Dir(d) { // t.TempDir's folders are 0700
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		proc.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(n), Gid: uint32(n)}}
	}
	p := e2e.StartCmd(t, proc)
	resp, err := http.Get(p.Base + "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the image's command as uid %d: %v %v", n, resp, err)
	}
	resp.Body.Close()
}

// The systemd unit runs the binary's real subcommands and flags, and gives the drain time.
func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile("frontgate.service")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	for line := range strings.Lines(string(data)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = append(keys[k], v)
		}
	}
	dir := t.TempDir()
	conf := e2e.WriteFile(t, dir, "config.yaml", "listen: 127.0.0.1:0\ndemo: true\n")
	for _, k := range []string{"ExecStartPre", "ExecStart"} {
		for _, line := range keys[k] {
			argv := strings.Fields(strings.ReplaceAll(line, "/etc/frontgate/config.yaml", conf))
			if argv[0] != "/usr/local/bin/frontgate" {
				t.Errorf("%s=%s: want /usr/local/bin/frontgate", k, line)
				continue
			}
			if argv[1] == "serve" {
				p := e2e.Start(t, binary, argv[1:]...)
				if err := p.Stop(t); err != nil {
					t.Errorf("%s: exit %v", k, err)
				}
				continue
			}
			if out, err := exec.Command(binary, argv[1:]...).CombinedOutput(); err != nil {
				t.Errorf("%s=%s: %v\n%s", k, line, err, out)
			}
		}
	}
	stop, err := time.ParseDuration(keys["TimeoutStopSec"][0] + "s")
	if err != nil || stop <= config.DefaultShutdownTimeout {
		t.Errorf("TimeoutStopSec %v: want longer than the default shutdown_timeout %v", keys["TimeoutStopSec"], config.DefaultShutdownTimeout)
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		unit := filepath.Join(dir, "frontgate.service")
		text := strings.ReplaceAll(string(data), "/usr/local/bin/frontgate", binary)
		if err := os.WriteFile(unit, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput(); err != nil {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		} else if len(out) > 0 {
			t.Logf("systemd-analyze verify:\n%s", out)
		}
	}
}
