package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// jsonEvent is the export format of an event: stable snake_case names,
// every field present, times in RFC 3339 (UTC, with fractional seconds
// when there are any).
type jsonEvent struct {
	ID        int64  `json:"id"`
	At        string `json:"at"`
	ActorKind string `json:"actor_kind"`
	Actor     string `json:"actor"`
	Remote    string `json:"remote"`
	Action    string `json:"action"`
	Project   string `json:"project"`
	Resource  string `json:"resource"`
	Outcome   string `json:"outcome"`
	Detail    string `json:"detail"`
}

// WriteJSONLines writes events to w as JSON lines: one object per line
// with the fields id, at, actor_kind, actor, remote, action, project,
// resource, outcome and detail, in that order.
func WriteJSONLines(w io.Writer, events []meta.AuditEvent) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, e := range events {
		je := jsonEvent{
			ID: e.ID, At: e.At.UTC().Format(time.RFC3339Nano), ActorKind: e.ActorKind, Actor: e.Actor,
			Remote: e.Remote, Action: e.Action, Project: e.Project, Resource: e.Resource,
			Outcome: e.Outcome, Detail: e.Detail,
		}
		if err := enc.Encode(je); err != nil {
			return fmt.Errorf("export audit event %d: %w", e.ID, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("export audit events: %w", err)
	}
	return nil
}
