package server

import "context"

// startPullFlusher runs the registry's last-pull flusher
// (registry.Service.RunPullFlusher) every retention.pull_flush until the
// returned stop is called; stop ends it after a final flush of the pulls
// noted so far and waits for that to finish. Run stops it after the HTTP
// server has drained, so the last requests' pulls are written too.
func (s *Server) startPullFlusher(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.svc.RunPullFlusher(ctx, s.cfg.Retention.PullFlush)
	}()
	return func() {
		cancel()
		<-done
	}
}
