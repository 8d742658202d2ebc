package admin

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api/admin/wire"
)

// operation describes one route for the OpenAPI document. The table is
// written apart from routes() so a test can check that the two agree.
type operation struct {
	method, path, id, tag, summary string
	query                          []param
	body                           any // a wire value, or nil
	status                         int // success status
	resp                           any // a wire value, or nil for no body
	// jsonl marks a JSON-lines response.
	jsonl bool
	// documents are the media types of a response that is a document of
	// its own (an SBOM), not a wire value.
	documents []string
	errors    []int
	public    bool
}

// param is a query parameter (always a string).
type param struct{ name, doc string }

var (
	pageParams = []param{
		{"after", "return the entries named after this one (the next cursor of the previous page)"},
		{"limit", "page size, 1 to 1000 (default 100)"},
	}
	promotionParams = []param{
		{"digest", "only promotions of this manifest digest"},
		{"project", "only promotions from or into this project"},
		{"after", "return the promotions older than this one (the next cursor of the previous page)"},
		{"limit", "page size, 1 to 1000 (default 100)"},
	}
	scanParams = []param{
		{"image", "the artifact: repository:tag or repository@digest"},
	}
	sbomParams = []param{
		{"image", "the artifact: repository:tag or repository@digest"},
		{"format", "cyclonedx (CycloneDX 1.6 JSON, the default) or spdx (SPDX 2.3 JSON)"},
	}
	auditParams = []param{
		{"actor", "only events of this user or robot"},
		{"action", "only this action, e.g. artifact.push, login, member.put"},
		{"project", "only events of this project"},
		{"outcome", "success, failure or denied"},
		{"resource", "only resources starting with this prefix"},
		{"since", "only events at or after this RFC 3339 time"},
		{"until", "only events before this RFC 3339 time"},
		{"before", "only events older than this id (the next cursor of the previous page)"},
		{"limit", "page size, 1 to 1000 (default 100; for the export: the total, default all)"},
	}
)

// Errors most routes can answer, besides their own.
var (
	readErrors  = []int{401, 403, 404, 429}
	writeErrors = []int{400, 401, 403, 404, 409, 413, 429}
)

// operations lists what the API offers, in document order.
func operations() []operation {
	return []operation{
		{method: "GET", path: "/api/v1/openapi.json", id: "getOpenAPI", tag: "meta", summary: "This document.", status: 200, public: true},
		{method: "GET", path: "/api/v1/me", id: "getMe", tag: "meta", summary: "Who the caller is: a user's roles, or a robot's permissions.", status: 200, resp: wire.Me{}, errors: []int{401, 429}},

		{method: "GET", path: "/api/v1/users", id: "listUsers", tag: "users", summary: "List users in name order (system administrators).", query: pageParams, status: 200, resp: wire.UserList{}, errors: []int{400, 401, 403, 429}},
		{method: "POST", path: "/api/v1/users", id: "createUser", tag: "users", summary: "Create a local user (system administrators).", body: wire.NewUser{}, status: 201, resp: wire.User{}, errors: writeErrors},
		{method: "GET", path: "/api/v1/users/{name}", id: "getUser", tag: "users", summary: "Get a user.", status: 200, resp: wire.User{}, errors: readErrors},
		{method: "PATCH", path: "/api/v1/users/{name}", id: "updateUser", tag: "users", summary: "Change a user's email, password, system-administrator flag or disabled flag; users may change their own password.", body: wire.UserChange{}, status: 200, resp: wire.User{}, errors: writeErrors},
		{method: "DELETE", path: "/api/v1/users/{name}", id: "deleteUser", tag: "users", summary: "Delete a user (never the last system administrator).", status: 204, errors: []int{401, 403, 404, 409, 429}},
		{method: "POST", path: "/api/v1/users/{name}/cli-secret", id: "resetCLISecret", tag: "users", summary: "Generate a new CLI secret for a user, replacing the old one; shown once.", status: 200, resp: wire.Secret{}, errors: readErrors},

		{method: "GET", path: "/api/v1/projects", id: "listProjects", tag: "projects", summary: "List the projects the caller can see, in name order.", query: pageParams, status: 200, resp: wire.ProjectList{}, errors: []int{400, 401, 429}},
		{method: "POST", path: "/api/v1/projects", id: "createProject", tag: "projects", summary: "Create a project.", body: wire.NewProject{}, status: 201, resp: wire.Project{}, errors: writeErrors},
		{method: "GET", path: "/api/v1/projects/{name}", id: "getProject", tag: "projects", summary: "Get a project (404 when the caller cannot see it).", status: 200, resp: wire.Project{}, errors: readErrors},
		{method: "PATCH", path: "/api/v1/projects/{name}", id: "updateProject", tag: "projects", summary: "Make a project public or private.", body: wire.ProjectChange{}, status: 200, resp: wire.Project{}, errors: writeErrors},
		{method: "DELETE", path: "/api/v1/projects/{name}", id: "deleteProject", tag: "projects", summary: "Delete a project, its members and robots (409 while a repository holds a manifest).", status: 204, errors: []int{401, 403, 404, 409, 429}},
		{method: "GET", path: "/api/v1/projects/{name}/members", id: "listMembers", tag: "members", summary: "List a project's members, users then groups.", status: 200, resp: wire.MemberList{}, errors: readErrors},
		{method: "PUT", path: "/api/v1/projects/{name}/members", id: "putMember", tag: "members", summary: "Grant a role to a user or group, replacing a role it held.", body: wire.Member{}, status: 200, resp: wire.Member{}, errors: writeErrors},
		{method: "DELETE", path: "/api/v1/projects/{name}/members/{kind}/{member}", id: "deleteMember", tag: "members", summary: "Remove a member (kind: user or group).", status: 204, errors: []int{400, 401, 403, 404, 429}},

		{method: "GET", path: "/api/v1/robots", id: "listSystemRobots", tag: "robots", summary: "List system robots (system administrators).", status: 200, resp: wire.RobotList{}, errors: readErrors},
		{method: "POST", path: "/api/v1/robots", id: "createSystemRobot", tag: "robots", summary: "Create a system robot; the secret is shown once.", body: wire.NewRobot{}, status: 201, resp: wire.CreatedRobot{}, errors: writeErrors},
		{method: "GET", path: "/api/v1/projects/{name}/robots", id: "listProjectRobots", tag: "robots", summary: "List a project's robots.", status: 200, resp: wire.RobotList{}, errors: readErrors},
		{method: "POST", path: "/api/v1/projects/{name}/robots", id: "createProjectRobot", tag: "robots", summary: "Create a project robot; the secret is shown once.", body: wire.NewRobot{}, status: 201, resp: wire.CreatedRobot{}, errors: writeErrors},
		{method: "GET", path: "/api/v1/robots/{robotname}", id: "getRobot", tag: "robots", summary: "Get a robot by its account name.", status: 200, resp: wire.Robot{}, errors: readErrors},
		{method: "PATCH", path: "/api/v1/robots/{robotname}", id: "updateRobot", tag: "robots", summary: "Change a robot's description, permissions, expiry or disabled flag.", body: wire.RobotChange{}, status: 200, resp: wire.Robot{}, errors: writeErrors},
		{method: "DELETE", path: "/api/v1/robots/{robotname}", id: "deleteRobot", tag: "robots", summary: "Delete a robot.", status: 204, errors: readErrors},
		{method: "POST", path: "/api/v1/robots/{robotname}/secret", id: "regenerateRobotSecret", tag: "robots", summary: "Generate a new secret for a robot, replacing the old one; shown once.", status: 200, resp: wire.Secret{}, errors: readErrors},

		{method: "GET", path: "/api/v1/promotions", id: "listPromotions", tag: "promotions", summary: "Page through promotion records, newest first, of the repositories the caller may pull (the source only when the caller may pull it too).", query: promotionParams, status: 200, resp: wire.PromotionList{}, errors: []int{400, 401, 429, 503}},
		{method: "POST", path: "/api/v1/promotions", id: "createPromotion", tag: "promotions", summary: "Promote an artifact (with its index children and referrers) to repository:tag without copying blob data; needs pull on the source and push on the destination, and resets the tag's retention age.", body: wire.NewPromotion{}, status: 201, resp: wire.Promotion{}, errors: writeErrors},

		{method: "GET", path: "/api/v1/immutability", id: "listSystemImmutabilityRules", tag: "immutability", summary: "List the system-wide tag immutability rules (system administrators).", status: 200, resp: wire.ImmutabilityRuleList{}, errors: readErrors},
		{method: "POST", path: "/api/v1/immutability", id: "addSystemImmutabilityRule", tag: "immutability", summary: "Add a system-wide tag immutability rule; its repository patterns match full repository names.", body: wire.NewImmutabilityRule{}, status: 201, resp: wire.ImmutabilityRule{}, errors: writeErrors},
		{method: "DELETE", path: "/api/v1/immutability/{id}", id: "removeSystemImmutabilityRule", tag: "immutability", summary: "Remove a system-wide tag immutability rule.", status: 204, errors: readErrors},
		{method: "GET", path: "/api/v1/projects/{name}/immutability", id: "listProjectImmutabilityRules", tag: "immutability", summary: "List a project's tag immutability rules (manage-policies).", status: 200, resp: wire.ImmutabilityRuleList{}, errors: readErrors},
		{method: "POST", path: "/api/v1/projects/{name}/immutability", id: "addProjectImmutabilityRule", tag: "immutability", summary: "Add a tag immutability rule to a project; its repository patterns are relative to the project.", body: wire.NewImmutabilityRule{}, status: 201, resp: wire.ImmutabilityRule{}, errors: writeErrors},
		{method: "DELETE", path: "/api/v1/projects/{name}/immutability/{id}", id: "removeProjectImmutabilityRule", tag: "immutability", summary: "Remove a tag immutability rule from a project.", status: 204, errors: readErrors},

		{method: "GET", path: "/api/v1/projects/{name}/quota", id: "getProjectQuota", tag: "quota", summary: "Show a project's storage quota and usage: stored and logical bytes, artifacts, percent of the limit, warning (pull).", status: 200, resp: wire.Quota{}, errors: readErrors},
		{method: "PUT", path: "/api/v1/projects/{name}/quota", id: "setProjectQuota", tag: "quota", summary: "Set a project's storage quota (system administrators); 0 means no limit.", body: wire.QuotaSettings{}, status: 200, resp: wire.Quota{}, errors: writeErrors},
		{method: "DELETE", path: "/api/v1/projects/{name}/quota", id: "deleteProjectQuota", tag: "quota", summary: "Remove a project's storage quota (system administrators).", status: 204, errors: readErrors},

		{method: "GET", path: "/api/v1/projects/{name}/retention", id: "getRetentionPolicy", tag: "retention", summary: "Show a project's retention policy (pull).", status: 200, resp: wire.RetentionPolicy{}, errors: readErrors},
		{method: "PUT", path: "/api/v1/projects/{name}/retention", id: "setRetentionPolicy", tag: "retention", summary: "Set a project's retention policy, schedule and switch (manage-policies).", body: wire.RetentionPolicy{}, status: 200, resp: wire.RetentionPolicy{}, errors: writeErrors},
		{method: "DELETE", path: "/api/v1/projects/{name}/retention", id: "deleteRetentionPolicy", tag: "retention", summary: "Remove a project's retention policy (manage-policies).", status: 204, errors: readErrors},
		{method: "POST", path: "/api/v1/projects/{name}/retention/runs", id: "startRetentionRun", tag: "retention", summary: "Start a run of the project's policy, or a dry run that reports what would go and why (manage-policies).", body: wire.NewRetentionRun{}, status: 202, resp: wire.RetentionRun{}, errors: writeErrors},
		{method: "GET", path: "/api/v1/projects/{name}/retention/runs", id: "listRetentionRuns", tag: "retention", summary: "List a project's retention runs, newest first (pull).", status: 200, resp: wire.RetentionRunList{}, errors: readErrors},
		{method: "GET", path: "/api/v1/projects/{name}/retention/runs/{id}", id: "getRetentionRun", tag: "retention", summary: "Show a retention run's status and progress (pull).", status: 200, resp: wire.RetentionRun{}, errors: readErrors},
		{method: "GET", path: "/api/v1/projects/{name}/retention/runs/{id}/report", id: "getRetentionReport", tag: "retention", summary: "A page of a run's report: each tag and untagged manifest it deleted (or would), with the reason; after= and limit= page it (pull).", status: 200, resp: wire.RetentionReport{}, errors: readErrors},
		{method: "GET", path: "/api/v1/projects/{name}/retention/trash", id: "listRetentionTrash", tag: "retention", summary: "List what retention deleted and is still restorable, newest first; before= and limit= page it (pull).", status: 200, resp: wire.TrashList{}, errors: readErrors},
		{method: "POST", path: "/api/v1/projects/{name}/retention/trash/restore", id: "restoreRetentionTrash", tag: "retention", summary: "Put a deleted tag back at its digest, or take an untagged manifest out of the trash (manage-policies).", body: wire.RestoreRequest{}, status: 200, resp: wire.TrashEntry{}, errors: writeErrors},

		{method: "POST", path: "/api/v1/scans", id: "requestScan", tag: "scanning", summary: "Queue a scan of an artifact now, even if it was scanned before (push on the repository); answers the report as it stands, status queued.", body: wire.ScanRequest{}, status: 202, resp: wire.ScanReport{}, errors: []int{400, 401, 403, 404, 413, 429, 503}},
		{method: "GET", path: "/api/v1/scans", id: "getScanReport", tag: "scanning", summary: "An artifact's scan status, vulnerabilities (allowlisted ones marked), secret and hygiene findings and pull-gate verdict (pull); status not_scanned when no scan was asked for.", query: scanParams, status: 200, resp: wire.ScanReport{}, errors: []int{400, 401, 404, 429, 503}},
		{method: "GET", path: "/api/v1/sboms", id: "getSBOM", tag: "scanning", summary: "The SBOM of a scanned artifact, as the referrer pushed with it holds it (pull); 404 before a built-in scan finished.", query: sbomParams, status: 200, documents: []string{"application/vnd.cyclonedx+json", "application/spdx+json"}, errors: []int{400, 401, 404, 429, 503}},
		{method: "GET", path: "/api/v1/projects/{name}/scan-policy", id: "getScanPolicy", tag: "scanning", summary: "Show a project's scan policy: scan on push and the pull gate (pull); the default until one is set.", status: 200, resp: wire.ScanPolicy{}, errors: readErrors},
		{method: "PUT", path: "/api/v1/projects/{name}/scan-policy", id: "setScanPolicy", tag: "scanning", summary: "Set a project's scan policy (manage-policies): block_severity NONE, LOW, MEDIUM, HIGH or CRITICAL; unscanned allow, deny or wait (wait_seconds up to 600).", body: wire.ScanPolicy{}, status: 200, resp: wire.ScanPolicy{}, errors: writeErrors},
		{method: "GET", path: "/api/v1/allowlist", id: "listSystemAllowlist", tag: "scanning", summary: "List the system-wide vulnerability allowlist, expired entries marked (any signed-in caller).", status: 200, resp: wire.AllowlistList{}, errors: []int{401, 429}},
		{method: "POST", path: "/api/v1/allowlist", id: "addSystemAllowlistEntry", tag: "scanning", summary: "Exempt a vulnerability id (or alias) from every project's pull gate, with a reason, until expires_at or for ever (system administrators); replaces an entry of the same id.", body: wire.AllowlistEntry{}, status: 201, resp: wire.AllowlistEntry{}, errors: writeErrors},
		{method: "DELETE", path: "/api/v1/allowlist/{id}", id: "removeSystemAllowlistEntry", tag: "scanning", summary: "Remove a system-wide allowlist entry (system administrators).", status: 204, errors: readErrors},
		{method: "GET", path: "/api/v1/projects/{name}/allowlist", id: "listProjectAllowlist", tag: "scanning", summary: "List a project's vulnerability allowlist, expired entries marked (pull).", status: 200, resp: wire.AllowlistList{}, errors: readErrors},
		{method: "POST", path: "/api/v1/projects/{name}/allowlist", id: "addProjectAllowlistEntry", tag: "scanning", summary: "Exempt a vulnerability id (or alias) from the project's pull gate, with a reason, until expires_at or for ever (manage-policies); replaces an entry of the same id.", body: wire.AllowlistEntry{}, status: 201, resp: wire.AllowlistEntry{}, errors: writeErrors},
		{method: "DELETE", path: "/api/v1/projects/{name}/allowlist/{id}", id: "removeProjectAllowlistEntry", tag: "scanning", summary: "Remove an entry from a project's allowlist (manage-policies).", status: 204, errors: readErrors},

		{method: "GET", path: "/api/v1/audit", id: "listAudit", tag: "audit", summary: "Page through the audit log, newest first; the next page is the next cursor (also in a Link header).", query: auditParams, status: 200, resp: wire.AuditList{}, errors: []int{400, 401, 403, 429, 503}},
		{method: "GET", path: "/api/v1/audit/export", id: "exportAudit", tag: "audit", summary: "Export the audit log as JSON lines, newest first.", query: auditParams, status: 200, resp: wire.AuditEvent{}, jsonl: true, errors: []int{400, 401, 403, 429, 503}},
	}
}

var (
	docOnce sync.Once
	docJSON []byte
)

// openAPI serves the document.
func (h *Handler) openAPI(w http.ResponseWriter, _ *http.Request, _ access.Principal) error {
	docOnce.Do(func() { docJSON = mustJSON(OpenAPI()) })
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(docJSON)))
	_, _ = w.Write(docJSON)
	return nil
}

// mustJSON encodes the document (maps and slices of plain values cannot
// fail to encode).
func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic("openapi: " + err.Error())
	}
	return append(b, '\n')
}

// OpenAPI returns the OpenAPI 3.1 document of the admin API, ready to be
// encoded as JSON (maps, so the encoding sorts keys and is stable).
func OpenAPI() map[string]any {
	schemas := map[string]any{}
	paths := map[string]any{}
	for _, op := range operations() {
		item, _ := paths[op.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[op.path] = item
		}
		item[strings.ToLower(op.method)] = op.document(schemas)
	}
	schemas["Errors"] = schemaOf(reflect.TypeFor[wire.Errors](), schemas)
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "Berth admin API",
			"version":     "v1",
			"description": "Users, projects, members, robot accounts, tag immutability rules, quotas, retention, promotions, scanning and the audit log of a Berth registry. Every operation but this document needs HTTP Basic credentials (a password, a CLI secret or a robot secret).",
		},
		"servers":    []any{map[string]any{"url": "/"}},
		"security":   []any{map[string]any{"basic": []any{}}},
		"paths":      paths,
		"components": map[string]any{"schemas": schemas, "securitySchemes": map[string]any{"basic": map[string]any{"type": "http", "scheme": "basic"}}},
	}
}

var pathParam = regexp.MustCompile(`\{([a-z]+)\}`)

// document returns op as an OpenAPI operation object, adding the schemas it
// names to schemas.
func (op operation) document(schemas map[string]any) map[string]any {
	var params []any
	for _, m := range pathParam.FindAllStringSubmatch(op.path, -1) {
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
	}
	for _, q := range op.query {
		params = append(params, map[string]any{"name": q.name, "in": "query", "description": q.doc, "schema": map[string]any{"type": "string"}})
	}
	out := map[string]any{"operationId": op.id, "summary": op.summary, "tags": []any{op.tag}}
	if len(params) > 0 {
		out["parameters"] = params
	}
	if op.public {
		out["security"] = []any{}
	}
	if op.body != nil {
		out["requestBody"] = map[string]any{"required": true, "content": map[string]any{
			"application/json": map[string]any{"schema": schemaRef(reflect.TypeOf(op.body), schemas)},
		}}
	}
	ok := map[string]any{"description": http.StatusText(op.status)}
	switch {
	case len(op.documents) > 0:
		content := map[string]any{}
		for _, mt := range op.documents {
			content[mt] = map[string]any{"schema": map[string]any{"type": "object"}}
		}
		ok["content"] = content
	case op.jsonl:
		ok["content"] = map[string]any{"application/jsonl": map[string]any{"schema": schemaRef(reflect.TypeOf(op.resp), schemas)}}
	case op.resp != nil:
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": schemaRef(reflect.TypeOf(op.resp), schemas)}}
	case op.public:
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}
	}
	responses := map[string]any{strconv.Itoa(op.status): ok}
	for _, code := range op.errors {
		responses[strconv.Itoa(code)] = map[string]any{
			"description": http.StatusText(code),
			"content":     map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Errors"}}},
		}
	}
	out["responses"] = responses
	return out
}

// schemaRef returns a $ref to t's schema, adding it to schemas.
func schemaRef(t reflect.Type, schemas map[string]any) map[string]any {
	if _, ok := schemas[t.Name()]; !ok {
		schemas[t.Name()] = nil // break cycles
		schemas[t.Name()] = schemaOf(t, schemas)
	}
	return map[string]any{"$ref": "#/components/schemas/" + t.Name()}
}

// schemaOf returns the JSON Schema of a wire type: objects from structs
// (json tags name the properties; fields without omitempty are required),
// with embedded structs flattened and named structs referenced.
func schemaOf(t reflect.Type, schemas map[string]any) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		item := t.Elem()
		if item.Kind() == reflect.Struct {
			return map[string]any{"type": "array", "items": schemaRef(item, schemas)}
		}
		return map[string]any{"type": "array", "items": schemaOf(item, schemas)}
	case reflect.Struct:
		props := map[string]any{}
		var required []any
		addFields(t, props, &required, schemas)
		s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			s["required"] = required
		}
		return s
	}
	panic("openapi: no schema for " + t.String())
}

func addFields(t reflect.Type, props map[string]any, required *[]any, schemas map[string]any) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			addFields(f.Type, props, required, schemas)
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft == reflect.TypeFor[json.RawMessage]():
			// A JSON document kept as sent (a retention policy).
			props[name] = map[string]any{"type": "object"}
		case ft.Kind() == reflect.Struct:
			props[name] = schemaRef(ft, schemas)
		case ft.Kind() == reflect.String && (name == "at" || strings.HasSuffix(name, "_at")):
			// Times are RFC 3339 strings ("" when unknown or never).
			props[name] = map[string]any{"type": "string", "format": "date-time"}
		default:
			props[name] = schemaOf(ft, schemas)
		}
		if !strings.Contains(opts, "omitempty") {
			*required = append(*required, name)
		}
	}
}
