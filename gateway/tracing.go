package gateway

import (
	"context"
	"reflect"
	"sync/atomic"

	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/tracing"
)

// tracerRef is a tracing provider shared by the Server and the generations built with it. A reload
// that leaves the tracing section alone keeps it; one that changes it makes a new one, and the old
// one is shut down (its last spans exported) once the last generation using it has closed.
type tracerRef struct {
	p    *tracing.Provider
	cfg  config.Tracing // the section p was made from
	refs atomic.Int64   // the Server's hold, if it still has this one, and one per gateway built with it
}

// tracerFor returns a hold on the tracing provider for cfg: the running one when its section is
// unchanged, a new one when it changed; nil without tracing. The caller keeps the hold as the
// server's (replacing s.tracer, whose hold it releases) or releases it. s.mu is held.
func (s *Server) tracerFor(cfg *config.Config) (*tracerRef, error) {
	if cfg.Tracing == nil {
		return nil, nil
	}
	if t := s.tracer; t != nil && reflect.DeepEqual(t.cfg, *cfg.Tracing) {
		t.refs.Add(1)
		return t, nil
	}
	p, err := tracing.New(tracing.Settings{Endpoint: cfg.Tracing.OTLPEndpoint, Sample: cfg.Tracing.Sample, Headers: cfg.Tracing.Headers,
		ServiceName: cfg.Tracing.ServiceName, ServiceVersion: s.opts.Version, Log: s.log.Named("tracing")})
	if err != nil {
		return nil, err
	}
	t := &tracerRef{p: p, cfg: *cfg.Tracing}
	t.refs.Store(1)
	return t, nil
}

// provider is the provider held, or nil for a nil hold.
func (t *tracerRef) provider() *tracing.Provider {
	if t == nil {
		return nil
	}
	return t.p
}

// release lets go of one hold; the last shuts the provider down, exporting what is left within
// ctx. A nil hold does nothing.
func (t *tracerRef) release(ctx context.Context) error {
	if t == nil || t.refs.Add(-1) != 0 {
		return nil
	}
	return t.p.Shutdown(ctx)
}
