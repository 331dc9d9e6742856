// Package acmetest runs Let's Encrypt's test CA, Pebble, with its DNS companion
// pebble-challtestsrv, as child processes on loopback, so that tests can obtain certificates over
// ACME end to end and offline. It is for tests only; nothing in the product imports it.
//
// The two commands are Go tool dependencies of the module (the tool block of go.mod), so go.sum
// pins them and only the module proxy is ever needed. Start builds them once per test process
// into a folder under the user cache directory, where later test processes and runs find them.
//
// Every name resolves, through challtestsrv, to 127.0.0.1 and to no IPv6 address, so pebble
// validates HTTP-01 at 127.0.0.1:CA.HTTPPort and TLS-ALPN-01 at 127.0.0.1:CA.TLSPort, where the
// client under test must answer. Pebble is made deterministic and fast: no random validation
// sleeps, no rejected nonces, no reused authorizations, one certificate profile, no Retry-After
// delays.
package acmetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/frontgate/frontgate/internal/e2e"
)

const (
	// startTimeout bounds how long Start waits for both processes to answer.
	startTimeout = 20 * time.Second
	// startAttempts is how many times Start tries when a port it picked was taken meanwhile.
	startAttempts = 3
	// stopDelay is how long a process may take to exit after SIGTERM before it is killed.
	stopDelay = 5 * time.Second
	// pollInterval is the pause between two readiness checks.
	pollInterval = 20 * time.Millisecond
	// requestTimeout bounds each request to a management API.
	requestTimeout = 10 * time.Second
	// probeName is the name looked up to check that challtestsrv's DNS server answers.
	probeName = "ready.acmetest.test."
)

// Options configures Start. The zero value is a CA whose challenge ports Start picks among free
// loopback ports and which issues certificates valid for pebble's default of 90 days.
type Options struct {
	// HTTPPort is the port on 127.0.0.1 where pebble connects to validate HTTP-01 challenges:
	// the client under test must answer there (certmagic: ACMEIssuer.AltHTTPPort). Zero means
	// Start picks a free port; read it back from CA.HTTPPort.
	HTTPPort int

	// TLSPort is the port on 127.0.0.1 where pebble connects to validate TLS-ALPN-01 challenges
	// (certmagic: ACMEIssuer.AltTLSALPNPort). Zero means Start picks a free port; read it back
	// from CA.TLSPort.
	TLSPort int

	// CertValidity is how long the certificates pebble issues are valid. It is the validity of
	// pebble's only profile, "default", which every order gets. Pebble counts whole seconds, so
	// it is rounded up to a second. Zero means pebble's default, 90 days. A client can also ask
	// for an earlier NotAfter per order (certmagic: ACMEIssuer.NotAfter), which pebble honors.
	CertValidity time.Duration

	// PebbleEnv holds extra KEY=VALUE entries for pebble's environment, applied after the ones
	// Start sets, e.g. "PEBBLE_CHAIN_LENGTH=2" or "PEBBLE_VA_ALWAYS_VALID=1". Nil adds none.
	PebbleEnv []string
}

// CA is a running pebble and challtestsrv pair, started by Start and stopped when the test that
// started it ends. Its fields are read-only. Methods that take a testing.TB fail the test on an
// error, so they must be called from the test's goroutine.
type CA struct {
	// Directory is the https URL of pebble's ACME directory (certmagic: ACMEIssuer.CA).
	Directory string

	// DirectoryRootPEM is the path of the PEM file a client must trust to talk to the directory
	// over HTTPS: pebble's static "minica" test root, in the module cache. DirectoryRoots returns
	// it as a pool. It is not the root of the certificates pebble issues; see IssuerRoots.
	DirectoryRootPEM string

	// ManagementURL is the https base URL of pebble's management interface (same trust as the
	// directory), e.g. ManagementURL+"/roots/0".
	ManagementURL string

	// DNSAddr is the UDP and TCP address of challtestsrv's DNS server, which pebble uses.
	DNSAddr string

	// HTTPPort is Options.HTTPPort, or the port Start picked: pebble validates HTTP-01 there.
	HTTPPort int

	// TLSPort is Options.TLSPort, or the port Start picked: pebble validates TLS-ALPN-01 there.
	TLSPort int

	challURL     string         // http base URL of challtestsrv's management API
	client       *http.Client   // trusts DirectoryRootPEM; for both management APIs
	dirRoots     *x509.CertPool // the pool of DirectoryRootPEM
	pebble       *process
	challtestsrv *process
}

// Start builds pebble and pebble-challtestsrv if no earlier run did, starts them on free loopback
// ports, waits until both answer and returns the CA. It registers a cleanup that stops both and
// waits for them, and that logs their output if the test failed. It fails the test if the CA
// cannot be started.
func Start(t testing.TB, opts Options) *CA {
	t.Helper()
	bins, err := loadBinaries()
	if err != nil {
		t.Fatalf("acmetest: %v", err)
	}
	if opts.CertValidity < 0 {
		t.Fatalf("acmetest: negative Options.CertValidity %v", opts.CertValidity)
	}
	certs := filepath.Join(bins.moduleDir, "test", "certs")
	tlsFiles := pebbleTLS{
		root: filepath.Join(certs, "pebble.minica.pem"),
		cert: filepath.Join(certs, "localhost", "cert.pem"),
		key:  filepath.Join(certs, "localhost", "key.pem"),
	}
	dirRoots, err := tlsFiles.check(time.Now())
	if err != nil {
		t.Fatalf("acmetest: %v", err)
	}
	if opts.HTTPPort == 0 || opts.TLSPort == 0 {
		ports, err := freePorts(nil, false, false)
		if err != nil {
			t.Fatalf("acmetest: %v", err)
		}
		if opts.HTTPPort == 0 {
			opts.HTTPPort = ports[0]
		}
		if opts.TLSPort == 0 {
			opts.TLSPort = ports[1]
		}
	}

	for attempt := 1; ; attempt++ {
		ca, retry, err := start(t.TempDir(), bins, tlsFiles, dirRoots, opts)
		if err == nil {
			t.Cleanup(func() { ca.stop(t) })
			return ca
		}
		if !retry || attempt == startAttempts {
			t.Fatalf("acmetest: starting pebble (attempt %d): %v", attempt, err)
		}
		t.Logf("acmetest: attempt %d lost a port race, retrying: %v", attempt, err)
	}
}

// pebbleTLS names the files pebble serves its directory and management interface with.
type pebbleTLS struct {
	root string // the minica root, which clients trust
	cert string // the localhost leaf, signed by root
	key  string // cert's key
}

// check reads the root into a pool and makes sure the leaf is still valid at now: the files
// are static and the leaf expires (October 2027 in pebble v2.10.3).
func (f pebbleTLS) check(now time.Time) (*x509.CertPool, error) {
	rootPEM, err := os.ReadFile(f.root)
	if err != nil {
		return nil, fmt.Errorf("reading pebble's test root: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(rootPEM) {
		return nil, fmt.Errorf("no certificate in %s", f.root)
	}
	leafPEM, err := os.ReadFile(f.cert)
	if err != nil {
		return nil, fmt.Errorf("reading pebble's HTTPS certificate: %w", err)
	}
	block, _ := pem.Decode(leafPEM)
	if block == nil {
		return nil, fmt.Errorf("no PEM block in %s", f.cert)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", f.cert, err)
	}
	if now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("pebble's HTTPS certificate %s expired on %s: upgrade pebble", f.cert, leaf.NotAfter.Format(time.DateOnly))
	}
	return pool, nil
}

// pebbleConfig is pebble's -config file (see test/config/pebble-config.json in its module).
type pebbleConfig struct {
	Pebble struct {
		ListenAddress                  string                     `json:"listenAddress"`
		ManagementListenAddress        string                     `json:"managementListenAddress"`
		Certificate                    string                     `json:"certificate"`
		PrivateKey                     string                     `json:"privateKey"`
		HTTPPort                       int                        `json:"httpPort"`
		TLSPort                        int                        `json:"tlsPort"`
		OCSPResponderURL               string                     `json:"ocspResponderURL"`
		ExternalAccountBindingRequired bool                       `json:"externalAccountBindingRequired"`
		DomainBlocklist                []string                   `json:"domainBlocklist"`
		RetryAfter                     struct{ Authz, Order int } `json:"retryAfter"`
		KeyAlgorithm                   string                     `json:"keyAlgorithm"`
		Profiles                       map[string]pebbleProfile   `json:"profiles"`
	} `json:"pebble"`
}

// pebbleProfile is one certificate profile of pebble's configuration.
type pebbleProfile struct {
	Description    string `json:"description"`
	ValidityPeriod uint64 `json:"validityPeriod"` // seconds; zero means 90 days
}

// start makes one attempt at starting both processes with their files in dir. On failure it
// has stopped whatever it started, the error carries the processes' output, and retry reports
// whether a port it picked was taken by someone else in the meantime.
func start(dir string, bins *binaries, tlsFiles pebbleTLS, dirRoots *x509.CertPool, opts Options) (ca *CA, retry bool, err error) {
	// pebble's ACME and management listeners, challtestsrv's management API, and its DNS
	// server, which needs the port for both UDP and TCP.
	ports, err := freePorts([]int{opts.HTTPPort, opts.TLSPort}, false, false, false, true)
	if err != nil {
		return nil, false, err
	}
	listen := loopback(ports[0])
	mgmt := loopback(ports[1])
	ca = &CA{
		Directory:        "https://" + listen + "/dir",
		DirectoryRootPEM: tlsFiles.root,
		ManagementURL:    "https://" + mgmt,
		DNSAddr:          loopback(ports[3]),
		HTTPPort:         opts.HTTPPort,
		TLSPort:          opts.TLSPort,
		challURL:         "http://" + loopback(ports[2]),
		client: &http.Client{Transport: &http.Transport{
			Proxy:           nil, // never through a proxy, whatever the environment says
			TLSClientConfig: &tls.Config{RootCAs: dirRoots},
		}},
		dirRoots: dirRoots,
	}

	var cfg pebbleConfig
	p := &cfg.Pebble
	p.ListenAddress = listen
	p.ManagementListenAddress = mgmt
	p.Certificate = tlsFiles.cert
	p.PrivateKey = tlsFiles.key
	p.HTTPPort = opts.HTTPPort
	p.TLSPort = opts.TLSPort
	p.DomainBlocklist = []string{}
	p.KeyAlgorithm = "ecdsa" // quicker to generate at start than RSA
	p.Profiles = map[string]pebbleProfile{"default": {
		Description:    "acmetest's only profile",
		ValidityPeriod: uint64((opts.CertValidity + time.Second - 1) / time.Second),
	}}
	cfgJSON, err := json.MarshalIndent(&cfg, "", "  ")
	if err != nil {
		return nil, false, fmt.Errorf("encoding pebble's configuration: %w", err)
	}
	cfgPath := filepath.Join(dir, "pebble-config.json")
	if err := os.WriteFile(cfgPath, cfgJSON, 0o644); err != nil {
		return nil, false, fmt.Errorf("writing pebble's configuration: %w", err)
	}

	ca.challtestsrv, err = startProcess("pebble-challtestsrv", dir, childEnv(nil), bins.challtestsrv,
		"-dnsserver", ca.DNSAddr,
		"-management", loopback(ports[2]),
		"-defaultIPv4", "127.0.0.1",
		"-defaultIPv6=",                                 // no AAAA answers: pebble would try IPv6 first
		"-http01=", "-https01=", "-tlsalpn01=", "-doh=", // only DNS
	)
	if err != nil {
		return nil, false, err
	}
	ca.pebble, err = startProcess("pebble", dir, childEnv(opts.PebbleEnv), bins.pebble,
		"-config", cfgPath,
		"-dnsserver", ca.DNSAddr,
		"-strict=false",
	)
	if err != nil {
		ca.challtestsrv.stop()
		return nil, false, err
	}

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	err = poll(ctx, ca.challtestsrv, ca.checkChalltestsrv)
	if err == nil {
		err = poll(ctx, ca.pebble, ca.checkPebble)
	}
	if err != nil {
		ca.pebble.stop()
		ca.challtestsrv.stop()
		ca.client.CloseIdleConnections()
		out := ca.Output()
		return nil, strings.Contains(out, "address already in use"), fmt.Errorf("%w\n%s", err, out)
	}
	return ca, false, nil
}

// childEnv is the environment of a child process: this process's, without any PEBBLE_ setting a
// developer may have exported, plus the settings that make pebble fast and deterministic, plus
// extra.
func childEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PEBBLE_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"PEBBLE_VA_NOSLEEP=1",      // validate at once instead of after up to 15 s
		"PEBBLE_WFE_NONCEREJECT=0", // never reject a good nonce (default 5 %)
		"PEBBLE_AUTHZREUSE=0",      // never reuse a valid authorization (default 50 %)
		"PEBBLE_ALTERNATE_ROOTS=0", // one root, one chain
		"PEBBLE_CHAIN_LENGTH=1",    // leaf, one intermediate, root
		"PEBBLE_WFE_ORDERS_PER_PAGE=100",
	)
	return append(env, extra...)
}

// stop stops both processes, waits for them, and logs their output if the test failed. A
// process that exited before it was stopped fails the test.
func (ca *CA) stop(t testing.TB) {
	for _, p := range []*process{ca.pebble, ca.challtestsrv} {
		if p.exited() {
			t.Errorf("acmetest: %s exited during the test: %v", p.name, p.err)
		}
	}
	ca.pebble.stop()
	ca.challtestsrv.stop()
	ca.client.CloseIdleConnections()
	if t.Failed() {
		t.Logf("acmetest: output of pebble and pebble-challtestsrv:\n%s", ca.Output())
	}
}

// Output returns what pebble and pebble-challtestsrv printed so far, each under a header line.
// Start's cleanup logs it when the test failed.
func (ca *CA) Output() string {
	return fmt.Sprintf("----- pebble -----\n%s----- pebble-challtestsrv -----\n%s",
		ca.pebble.out.String(), ca.challtestsrv.out.String())
}

// DirectoryRoots returns a new pool holding the root in DirectoryRootPEM, the one a client must
// trust to talk to the directory (certmagic: ACMEIssuer.TrustedRoots).
func (ca *CA) DirectoryRoots() *x509.CertPool {
	return ca.dirRoots.Clone()
}

// IssuerRoots returns the roots of the certificates pebble issues, fetched from its management
// interface (/roots/0, and /roots/1... when PEBBLE_ALTERNATE_ROOTS is set). Pebble makes them
// anew at every start. Verifying an issued leaf also needs the intermediates, which come with
// the chain pebble hands out, or from IssuerIntermediates.
func (ca *CA) IssuerRoots(t testing.TB) *x509.CertPool {
	t.Helper()
	return ca.fetchPool(t, "/roots/")
}

// IssuerIntermediates returns the intermediates that sign the certificates pebble issues,
// fetched from its management interface (/intermediates/0...). With PEBBLE_CHAIN_LENGTH above
// 1 the chain has more intermediates than these; the chain pebble hands out has them all.
func (ca *CA) IssuerIntermediates(t testing.TB) *x509.CertPool {
	t.Helper()
	return ca.fetchPool(t, "/intermediates/")
}

// fetchPool reads the certificates at prefix+"0", prefix+"1"... until one is missing.
func (ca *CA) fetchPool(t testing.TB, prefix string) *x509.CertPool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	pool := x509.NewCertPool()
	for i := 0; ; i++ {
		body, status, err := ca.get(ctx, ca.ManagementURL+prefix+strconv.Itoa(i))
		if err != nil {
			t.Fatalf("acmetest: %v", err)
		}
		if status == http.StatusNotFound && i > 0 {
			return pool
		}
		if status != http.StatusOK {
			t.Fatalf("acmetest: GET %s%d: status %d: %s", prefix, i, status, body)
		}
		if !pool.AppendCertsFromPEM(body) {
			t.Fatalf("acmetest: GET %s%d: no PEM certificate in %q", prefix, i, body)
		}
	}
}

// SetDefaultIPv4 sets the address challtestsrv answers A queries with for names that have no
// record of their own; Start sets 127.0.0.1. An empty ip leaves such queries unanswered, so
// pebble cannot reach those names.
func (ca *CA) SetDefaultIPv4(t testing.TB, ip string) {
	t.Helper()
	ca.challPost(t, "/set-default-ipv4", map[string]any{"ip": ip})
}

// AddARecord makes challtestsrv answer A queries for host with addrs (added to those host
// already has) instead of the default address.
func (ca *CA) AddARecord(t testing.TB, host string, addrs ...string) {
	t.Helper()
	ca.challPost(t, "/add-a", map[string]any{"host": host, "addresses": addrs})
}

// ClearARecord removes host's own A records, so that host gets the default address again.
func (ca *CA) ClearARecord(t testing.TB, host string) {
	t.Helper()
	ca.challPost(t, "/clear-a", map[string]any{"host": host})
}

// SetRenewalWindow makes pebble's ACME Renewal Information (ARI) endpoint suggest renewing cert,
// which pebble must have issued, between start and end, instead of around two thirds into its
// validity. A window in the past tells an ARI-aware client to renew at its next ARI check. Note
// that certmagic fetches ARI right after issuance and then only after the Retry-After pebble
// sends, 6 hours; to make certmagic renew by itself in a test, use a short
// Options.CertValidity (and a short certmagic.CacheOptions.RenewCheckInterval) instead.
func (ca *CA) SetRenewalWindow(t testing.TB, cert *x509.Certificate, start, end time.Time) {
	t.Helper()
	ari, err := json.Marshal(map[string]any{"suggestedWindow": map[string]string{
		"start": start.UTC().Format(time.RFC3339),
		"end":   end.UTC().Format(time.RFC3339),
	}})
	if err != nil {
		t.Fatalf("acmetest: encoding the renewal window: %v", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	ca.post(t, ca.ManagementURL+"/set-renewal-info/", map[string]any{
		"certificate": string(certPEM), "ariResponse": string(ari),
	})
}

// challPost posts body as JSON to challtestsrv's management API.
func (ca *CA) challPost(t testing.TB, path string, body any) {
	t.Helper()
	ca.post(t, ca.challURL+path, body)
}

// post posts body as JSON to url and fails t unless the answer is 200 OK.
func (ca *CA) post(t testing.TB, url string, body any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if err := ca.postJSON(ctx, url, body); err != nil {
		t.Fatalf("acmetest: %v", err)
	}
}

// postJSON posts body as JSON to url and returns an error unless the answer is 200 OK.
func (ca *CA) postJSON(ctx context.Context, url string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encoding the body for %s: %w", url, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("POST %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := ca.client.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("POST %s: reading the answer: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: status %d: %s", url, resp.StatusCode, answer)
	}
	return nil
}

// get fetches url and returns its body and status.
func (ca *CA) get(ctx context.Context, url string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := ca.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: reading the body: %w", url, err)
	}
	return body, resp.StatusCode, nil
}

// checkChalltestsrv returns nil once challtestsrv answers DNS over UDP and TCP (pebble asks
// over TCP) with the default address, and its management API answers.
func (ca *CA) checkChalltestsrv(ctx context.Context) error {
	want := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	for _, network := range []string{"udp", "tcp"} {
		addrs, err := lookup(ctx, network, ca.DNSAddr, probeName, dnsmessage.TypeA)
		if err != nil {
			return err
		}
		if len(addrs) != 1 || addrs[0] != want {
			return fmt.Errorf("DNS over %s: %s resolves to %v, want %v", network, probeName, addrs, want)
		}
	}
	// Setting the (already empty) default IPv6 answer is harmless and proves the API works.
	return ca.postJSON(ctx, ca.challURL+"/set-default-ipv6", map[string]any{"ip": ""})
}

// checkPebble returns nil once pebble serves its directory and its management interface.
func (ca *CA) checkPebble(ctx context.Context) error {
	body, status, err := ca.get(ctx, ca.Directory)
	if err != nil {
		return err
	}
	var dir map[string]any
	if status != http.StatusOK || json.Unmarshal(body, &dir) != nil || dir["newOrder"] == nil {
		return fmt.Errorf("GET %s: status %d: %s", ca.Directory, status, body)
	}
	url := ca.ManagementURL + "/roots/0"
	body, status, err = ca.get(ctx, url)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: status %d: %s", url, status, body)
	}
	return nil
}

// poll runs check until it returns nil, p exits, or ctx ends.
func poll(ctx context.Context, p *process, check func(context.Context) error) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastErr error
	for {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready: %v", p.name, p.err)
		case <-ctx.Done():
			if lastErr == nil {
				lastErr = ctx.Err()
			}
			return fmt.Errorf("%s not ready within %v: %w", p.name, startTimeout, lastErr)
		case <-timer.C:
		}
		if strings.Contains(p.out.String(), "address already in use") {
			// challtestsrv only logs that a server could not bind, and goes on.
			return fmt.Errorf("%s could not bind a port", p.name)
		}
		checkCtx, cancel := context.WithTimeout(ctx, time.Second)
		lastErr = check(checkCtx)
		cancel()
		if lastErr == nil {
			return nil
		}
		timer.Reset(pollInterval)
	}
}

// loopback returns the address of port on 127.0.0.1.
func loopback(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// freePorts returns one distinct loopback TCP port per udp argument, none of them in avoid, each
// free when it was picked, and free for UDP too where the argument is true. Another process may
// take one before it is used; Start retries then.
func freePorts(avoid []int, udp ...bool) ([]int, error) {
	var held []io.Closer
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	ports := make([]int, 0, len(udp))
	for tries := 0; len(ports) < len(udp); tries++ {
		if tries == 100 {
			return nil, errors.New("finding free loopback ports: too many tries")
		}
		ln, err := e2e.ListenFree() // below the ephemeral range: no test's connection takes it meanwhile
		if err != nil {
			return nil, fmt.Errorf("finding a free loopback port: %w", err)
		}
		held = append(held, ln) // held until all are picked, so none is picked twice
		port := ln.Addr().(*net.TCPAddr).Port
		if slices.Contains(avoid, port) {
			continue // closed by its future user until the test needs it
		}
		if udp[len(ports)] {
			pc, err := net.ListenPacket("udp", loopback(port))
			if err != nil {
				continue // taken for UDP; try another
			}
			held = append(held, pc)
		}
		ports = append(ports, port)
	}
	return ports, nil
}

// process is a running child process whose output is kept in memory. Its owner must call stop.
type process struct {
	name   string
	out    e2e.Buffer
	cancel context.CancelFunc // makes exec send SIGTERM, then kill after stopDelay
	done   chan struct{}      // closed once the process has exited and its output is copied
	err    error              // what Wait returned; read only after done is closed
}

// startProcess starts path with args in dir; a goroutine waits for it and closes p.done.
func startProcess(name, dir string, env []string, path string, args ...string) (*process, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	cmd.Env = env
	p := &process{name: name, cancel: cancel, done: make(chan struct{})}
	cmd.Stdout = &p.out
	cmd.Stderr = &p.out
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopDelay
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM (SIGKILL after stopDelay) unless the process has exited, and waits for it.
func (p *process) stop() {
	p.cancel()
	<-p.done
}
