package gateway

import (
	"fmt"
	"io/fs"
	"net"
	"os"

	"go.uber.org/zap"

	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/demo"
	"github.com/frontgate/frontgate/proxy"
	"github.com/frontgate/frontgate/static"
)

// buildPool turns an upstream's config into a started pool (health checks run until Close).
func (gw *Gateway) buildPool(name string, u config.Pool, b *builder) (*proxy.Pool, error) {
	var targets []proxy.TargetSpec
	for _, t := range u.Targets {
		targets = append(targets, proxy.TargetSpec{URL: t.URL, Weight: t.Weight})
	}
	if u.Builtin == "echo" {
		addr, err := gw.startEcho(b.log)
		if err != nil {
			return nil, err
		}
		targets = []proxy.TargetSpec{{URL: "http://" + addr}}
		b.log.Info("builtin upstream started", zap.String("upstream", name), zap.String("builtin", u.Builtin), zap.String("addr", addr))
	}
	var sel proxy.Selector
	switch u.Balance {
	case config.LeastConn:
		sel = &proxy.LeastConn{}
	case config.Random:
		sel = proxy.Random{}
	case config.Hash:
		sel = &proxy.Hash{Key: b.hashKey(u.HashKey)}
	default:
		sel = &proxy.RoundRobin{}
	}
	opts := proxy.PoolOptions{
		Name:        name,
		Selector:    sel,
		MaxFails:    u.MaxFails,
		FailWindow:  u.FailWindow,
		FailTimeout: u.FailTimeout,
		Health: proxy.HealthCheck{
			Path: u.Health.Path, Interval: u.Health.Interval, Timeout: u.Health.Timeout,
			ExpectStatus: u.Health.ExpectStatus, Rise: u.Health.Rise, Fall: u.Health.Fall,
		},
		DialTimeout:      u.DialTimeout,
		MaxIdlePerTarget: u.MaxIdlePerTarget,
		H2C:              u.H2C,
		Logger:           b.log.Named("upstream"),
	}
	obs := b.obs
	if obs != nil {
		opts.OnChange = func(t *proxy.Upstream, up bool) { obs.SetUpstreamHealth(name, t.Name, up) }
	}
	p, err := proxy.NewPool(targets, opts)
	if err != nil {
		return nil, err
	}
	gw.poolNames = append(gw.poolNames, name)
	if obs != nil {
		for _, t := range p.Targets() {
			obs.SetUpstreamHealth(name, t.Name, true) // targets start in service
		}
	}
	p.Start()
	gw.pools = append(gw.pools, p)
	return p, nil
}

// openFolder opens a static folder: inside the embedded demo site for the embedded default, else on
// disk through an os.Root, which refuses paths and symlinks that lead outside the folder.
func (gw *Gateway) openFolder(path string) (fs.FS, error) {
	if gw.cfg.Embedded {
		return fs.Sub(static.Site, path)
	}
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, fmt.Errorf("open folder: %w", err)
	}
	gw.roots = append(gw.roots, root)
	return root.FS(), nil
}

// startEcho runs the built-in echo upstream on a free loopback port.
func (gw *Gateway) startEcho(log *zap.Logger) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("start echo upstream: %w", err)
	}
	gw.builtins = append(gw.builtins, startEndpoint("", newStdServer(demo.Echo(), log.Named("echo"), &gw.cfg.Server), ln))
	return ln.Addr().String(), nil
}
