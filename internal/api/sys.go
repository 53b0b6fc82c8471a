package api

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/internal/core"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/plugins/database"
)

func (s *Server) sysInit(w http.ResponseWriter, r *http.Request, _ string) error {
	if r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, map[string]any{"initialized": s.node.Initialized()})
		return nil
	}
	p, err := writeParams(r)
	if err != nil {
		return err
	}
	if err := unsupported(p, "Baton's init (no PGP-encrypted shares, no recovery keys)",
		"pgp_keys", "root_token_pgp_key", "recovery_shares", "recovery_threshold", "recovery_pgp_keys"); err != nil {
		return err
	}
	shares, threshold, err := sharesParams(p)
	if err != nil {
		return err
	}
	root, _ := p.str("root_token")
	var res core.InitResult
	switch {
	case s.keys != nil:
		res, err = s.keys.InitShares(r.Context(), root, shares, threshold)
	case shares != 1 || threshold != 1:
		return errStatus(http.StatusBadRequest, "secret_shares=%d, secret_threshold=%d: this node issues a single unseal key; use 1 and 1", shares, threshold)
	default:
		res, err = s.node.Init(r.Context(), root)
	}
	if errors.Is(err, core.ErrJoining) {
		return errStatus(http.StatusBadRequest, "Baton is already initialized: this node is joining the cluster at %s (retry_join or sys/storage/raft/join), "+
			"which is initialized; unseal this node with that cluster's unseal key instead of initializing a second cluster", s.node.ReachedCluster())
	}
	if errors.Is(err, core.ErrAlreadyInitialized) {
		return errStatus(http.StatusBadRequest, "Baton is already initialized")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": hexKeys(res.Keys), "keys_base64": res.Keys, "root_token": res.RootToken})
	return nil
}

func (s *Server) sealStatus() map[string]any {
	init := s.node.Initialized()
	_, index := s.node.RaftStatus()
	t, n, progress, nonce := 1, 1, 0, ""
	if s.keys != nil {
		n, t = s.keys.SealCounts()
		progress, nonce = s.keys.UnsealProgress()
		if !init {
			t, n = 0, 0
		}
	}
	return map[string]any{
		"type": "shamir", "initialized": init, "sealed": s.node.Sealed() || !init,
		"t": t, "n": n, "progress": progress, "nonce": nonce, "version": s.version, "build_date": "",
		"migration": false, "cluster_name": s.node.Config().Cluster, "cluster_id": s.node.Config().Cluster,
		"recovery_seal": false, "storage_type": "raft", "raft_applied_index": index,
	}
}

func (s *Server) sysSealStatus(w http.ResponseWriter, r *http.Request, _ string) error {
	writeJSON(w, http.StatusOK, s.sealStatus())
	return nil
}

func (s *Server) sysUnseal(w http.ResponseWriter, r *http.Request, _ string) error {
	p, err := writeParams(r)
	if err != nil {
		return err
	}
	if reset, _ := p.boolean("reset"); reset != nil && *reset {
		if s.keys != nil {
			s.keys.ResetUnseal()
		}
		writeJSON(w, http.StatusOK, s.sealStatus())
		return nil
	}
	k, _ := p.str("key")
	if k == "" {
		return errStatus(http.StatusBadRequest, "key is required: an unseal key share printed by sys/init")
	}
	if err := s.node.Unseal(r.Context(), k); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.sealStatus())
	return nil
}

// healthCodes are sys/health's status-code overrides, OpenBao's names. Every one given is
// checked, whether or not it applies to this node's state, so a script's typo shows at once.
var healthCodes = []string{"activecode", "standbycode", "sealedcode", "uninitcode",
	"performancestandbycode", "drsecondarycode", "haunhealthycode", "removedcode"}

// healthCodeOverrides reads the overrides given in q. A code outside 100–599 would make
// WriteHeader panic (or send a status no client understands), so it is refused.
func healthCodeOverrides(q url.Values) (map[string]int, error) {
	out := map[string]int{}
	for _, name := range healthCodes {
		v := q.Get(name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 || n > 599 {
			return nil, errStatus(http.StatusBadRequest, "%s must be an HTTP status code from 100 to 599, not %q", name, v)
		}
		out[name] = n
	}
	return out, nil
}

func (s *Server) sysHealth(w http.ResponseWriter, r *http.Request, _ string) error {
	q := r.URL.Query()
	codes, err := healthCodeOverrides(q)
	if err != nil {
		return err
	}
	code := func(name string, def int) int {
		if n, ok := codes[name]; ok {
			return n
		}
		return def
	}
	init := s.node.Initialized()
	sealed := s.node.Sealed()
	active := s.node.IsActive()
	status := http.StatusOK
	switch {
	case !init:
		status = code("uninitcode", http.StatusNotImplemented)
	case sealed:
		status = code("sealedcode", http.StatusServiceUnavailable)
	case !active:
		status = code("standbycode", http.StatusTooManyRequests)
		if q.Get("standbyok") == "true" {
			status = code("activecode", http.StatusOK)
		}
	default:
		status = code("activecode", http.StatusOK)
	}
	writeJSON(w, status, map[string]any{
		"initialized": init, "sealed": sealed || !init, "standby": !active && !sealed && init,
		"performance_standby": false, "replication_performance_mode": "disabled", "replication_dr_mode": "disabled",
		"server_time_utc": time.Now().Unix(), "version": s.version, "cluster_name": s.node.Config().Cluster,
		"cluster_id": s.node.Config().Cluster,
	})
	return nil
}

func (s *Server) sysLeader(w http.ResponseWriter, r *http.Request, _ string) error {
	_, addr := s.node.LeaderAPIAddr()
	active := s.node.IsActive()
	var since time.Time // OpenBao's standbys answer the zero time
	if active {
		addr = s.node.Config().APIAddr
		since = s.node.ActiveSince().UTC()
	}
	raftAddr, committed := s.node.RaftStatus()
	writeJSON(w, http.StatusOK, map[string]any{
		"ha_enabled": true, "is_self": active, "active_time": since, "leader_address": addr,
		"leader_cluster_address": raftAddr, "performance_standby": false,
		"raft_committed_index": committed, "raft_applied_index": committed,
	})
	return nil
}

func (s *Server) sysSeal(w http.ResponseWriter, r *http.Request, _ string) error {
	if err := requireMethod(r, http.MethodPut, http.MethodPost); err != nil {
		return err
	}
	if err := s.node.Seal(r.Context()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) sysStepDown(w http.ResponseWriter, r *http.Request, _ string) error {
	if err := requireMethod(r, http.MethodPut, http.MethodPost); err != nil {
		return err
	}
	// OpenBao answers at once; the hand-over goes on in the background.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.node.RequestStepDown(ctx); err != nil {
			s.log.Warn("step-down", "error", err)
		}
	}()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) raftJoin(w http.ResponseWriter, r *http.Request, _ string) error {
	if err := requireMethod(r, http.MethodPut, http.MethodPost); err != nil {
		return err
	}
	b, err := body(r)
	if err != nil {
		return err
	}
	addr, _ := params(b).str("leader_api_addr")
	if addr == "" {
		return errStatus(http.StatusBadRequest, "leader_api_addr is required (the API address of a node of the cluster to join)")
	}
	if err := s.node.Join(addr); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"joined": true})
	return nil
}

func (s *Server) raftConfiguration(w http.ResponseWriter, r *http.Request, _ string) error {
	servers, index, err := s.node.Peers()
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(servers))
	for _, sv := range servers {
		out = append(out, map[string]any{"node_id": sv.ID, "address": sv.Address, "leader": sv.Leader, "voter": sv.Voter, "protocol_version": "3"})
	}
	writeJSON(w, http.StatusOK, data(map[string]any{"config": map[string]any{"servers": out, "index": index}}))
	return nil
}

func (s *Server) raftRemovePeer(w http.ResponseWriter, r *http.Request, _ string) error {
	b, err := body(r)
	if err != nil {
		return err
	}
	id, _ := params(b).str("server_id")
	if id == "" {
		return errStatus(http.StatusBadRequest, "server_id is required")
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	if err := s.node.RemovePeer(ctx, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// catalog serves sys/plugins/catalog[/:type[/:name]].
func (s *Server) catalog(w http.ResponseWriter, r *http.Request, rest string) error {
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if rest == "" {
		parts = nil
	}
	switch len(parts) {
	case 0:
		if err := requireMethod(r, http.MethodGet); err != nil {
			return err
		}
		out := map[string]any{}
		l := s.secrets.ListPlugins()
		for t, names := range l.Names {
			if names == nil {
				names = []string{}
			}
			out[string(t)] = names
		}
		detailed := make([]map[string]any, 0, len(l.Entries))
		for _, e := range l.Entries {
			detailed = append(detailed, entryView(e))
		}
		out["detailed"] = detailed
		writeJSON(w, http.StatusOK, data(out))
		return nil
	case 1:
		if err := requireMethod(r, "LIST"); err != nil {
			return err
		}
		if _, err := catalog.ParseType(parts[0]); err != nil {
			return errStatus(http.StatusBadRequest, "%v", err)
		}
		names := s.secrets.ListPluginsOfType(parts[0])
		if names == nil {
			names = []string{}
		}
		writeJSON(w, http.StatusOK, data(map[string]any{"keys": names}))
		return nil
	case 2:
		typ, name := parts[0], parts[1]
		version := r.URL.Query().Get("version")
		switch r.Method {
		case http.MethodGet:
			e, err := s.secrets.ReadPlugin(typ, name, version)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, data(entryView(e)))
			return nil
		case http.MethodPut, http.MethodPost:
			return s.catalogPut(w, r, typ, name)
		case http.MethodDelete:
			ctx, cancel := ctxTimeout(r)
			defer cancel()
			if err := s.secrets.DeletePlugin(ctx, typ, name, version); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		return requireMethod(r, http.MethodGet, http.MethodPut, http.MethodDelete)
	}
	return errStatus(http.StatusNotFound, "no handler for sys/plugins/catalog/%s: use sys/plugins/catalog/:type/:name", rest)
}

func entryView(e catalog.Entry) map[string]any {
	args := e.Args
	if args == nil {
		args = []string{}
	}
	return map[string]any{"name": e.Name, "type": string(e.Type), "version": e.Version, "sha256": e.SHA256,
		"command": e.Command, "args": args, "builtin": e.Builtin, "deprecation_status": "supported"}
}

func (s *Server) catalogPut(w http.ResponseWriter, r *http.Request, typ, name string) error {
	b, err := body(r)
	if err != nil {
		return err
	}
	p := params(b)
	ignored := p.ignored("sha256", "command", "args", "env", "version", "type", "name")
	e := catalog.Entry{Name: name}
	t, err := catalog.ParseType(typ)
	if err != nil {
		return errStatus(http.StatusBadRequest, "%v", err)
	}
	e.Type = t
	if e.SHA256, err = p.str("sha256"); err != nil {
		return err
	}
	if e.SHA256 == "" {
		return errStatus(http.StatusBadRequest, "sha256 is required: the SHA-256 of the plugin binary (sha256sum PLUGIN)")
	}
	if e.Command, err = p.str("command"); err != nil {
		return err
	}
	if e.Command == "" {
		e.Command = name
	}
	if e.Args, err = p.list("args"); err != nil {
		return err
	}
	if e.Env, err = p.list("env"); err != nil {
		return err
	}
	if e.Version, err = p.str("version"); err != nil {
		return err
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	if err := s.secrets.RegisterPlugin(ctx, e); err != nil {
		return err
	}
	writeDone(w, ignored)
	return nil
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request, rest string) error {
	if rest == "status" {
		return s.reloadStatus(w, r)
	}
	if rest != "" {
		return errStatus(http.StatusNotFound, "no handler for sys/plugins/reload/backend/%s: use status", rest)
	}
	p, err := writeParams(r)
	if err != nil {
		return err
	}
	plugin, err := p.str("plugin")
	if err != nil {
		return err
	}
	mounts, err := p.list("mounts")
	if err != nil {
		return err
	}
	scope, _ := p.str("scope")
	if scope != "" && scope != "global" {
		return errStatus(http.StatusBadRequest, "scope %q: use \"global\" or leave it out (a reload is replicated to every node either way)", scope)
	}
	if (plugin == "") == (len(mounts) == 0) {
		return errStatus(http.StatusBadRequest, "give exactly one of plugin or mounts")
	}
	// Every mount is checked before any is reloaded, so a typo in the list reloads nothing.
	for _, m := range mounts {
		if _, ok := s.secrets.ReadMount(m); !ok {
			return errStatus(http.StatusNotFound, "no mount at %q: nothing was reloaded", strings.TrimSuffix(m, "/")+"/")
		}
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	id := rand.Text()
	if plugin != "" {
		if _, err := s.secrets.Reload(ctx, plugin, "", reloadSource(id, id)); err != nil {
			return err
		}
	}
	for i, m := range mounts {
		if _, err := s.secrets.Reload(ctx, "", m, reloadSource(fmt.Sprintf("%s-%d", id, i), id)); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, data(map[string]any{"reload_id": id}))
	return nil
}

// reloadSource is a reload asked through the HTTP API under an event id, recorded under the
// reload id the reply names.
func reloadSource(eventID, reloadID string) database.Source {
	src := apiSource(eventID)
	src.ReloadID = reloadID
	return src
}

// reloadStatus answers sys/plugins/reload/backend/status?reload_id= in OpenBao's shape. The
// results name the answering node: it has applied the reload, which every node applies from
// the same committed command.
func (s *Server) reloadStatus(w http.ResponseWriter, r *http.Request) error {
	if err := requireMethod(r, http.MethodGet); err != nil {
		return err
	}
	id := r.URL.Query().Get("reload_id")
	if id == "" {
		return errStatus(http.StatusBadRequest, "reload_id is required")
	}
	rec, ok := s.secrets.ReloadStatus(id)
	if !ok {
		return errStatus(http.StatusNotFound, "no reload with id %q", id)
	}
	writeJSON(w, http.StatusOK, data(map[string]any{"reload_id": id, "timestamp": rec.Time,
		"results": map[string]any{s.node.Config().NodeID: map[string]any{"timestamp": rec.Time, "error": ""}}}))
	return nil
}

// apiSource is a change asked through the HTTP API under an event id.
func apiSource(eventID string) database.Source {
	src := database.APISource
	src.EventID = eventID
	return src
}

func mountView(m database.Mount) map[string]any {
	return map[string]any{"type": m.Type, "description": m.Description, "accessor": m.Accessor, "config": map[string]any{"default_lease_ttl": fmtSeconds(m.DefaultLeaseTTL), "max_lease_ttl": fmtSeconds(m.MaxLeaseTTL), "force_no_cache": false}, "options": map[string]any{},
		"local": false, "seal_wrap": false, "plugin_version": m.PluginVersion, "running_plugin_version": m.PluginVersion}
}

func (s *Server) mounts(w http.ResponseWriter, r *http.Request, rest string) error {
	path := strings.Trim(rest, "/")
	if path == "" {
		if err := requireMethod(r, http.MethodGet); err != nil {
			return err
		}
		out := map[string]any{}
		for p, m := range s.secrets.Mounts() {
			out[p] = mountView(m)
		}
		reply := data(out)
		for k, v := range out { // OpenBao also lists the mounts at the top level
			reply[k] = v
		}
		writeJSON(w, http.StatusOK, reply)
		return nil
	}
	if m, ok := strings.CutSuffix(path, "/tune"); ok {
		return s.mountTune(w, r, m)
	}
	mount := database.NormalizeMount(path)
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	switch r.Method {
	case http.MethodGet:
		m, ok := s.secrets.ReadMount(mount)
		if !ok {
			return errStatus(http.StatusNotFound, "no mount at %s", mount)
		}
		writeJSON(w, http.StatusOK, data(mountView(m)))
		return nil
	case http.MethodPost, http.MethodPut:
		b, err := body(r)
		if err != nil {
			return err
		}
		p := params(b)
		typ, _ := p.str("type")
		if typ == "" {
			return errStatus(http.StatusBadRequest, "type is required (Baton serves \"database\")")
		}
		desc, _ := p.str("description")
		pname, _ := p.str("plugin_name")
		pver, _ := p.str("plugin_version")
		m := database.Mount{Path: mount, Type: typ, Description: desc, PluginName: pname, PluginVersion: pver}
		if err := mountConfigTTLs(p, &m); err != nil {
			return err
		}
		if err := s.secrets.EnableMount(ctx, m); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodDelete:
		if err := s.secrets.DisableMount(ctx, mount, database.APISource); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return requireMethod(r, http.MethodGet, http.MethodPost, http.MethodDelete)
}

func (s *Server) leases(w http.ResponseWriter, r *http.Request, rest string) error {
	if done, err := s.leasesByPrefix(w, r, rest); done {
		return err
	}
	p, err := writeParams(r)
	if err != nil {
		return err
	}
	op, idInPath, _ := strings.Cut(rest, "/")
	id, _ := p.str("lease_id")
	if id == "" {
		id = idInPath
	}
	if id == "" {
		return errStatus(http.StatusBadRequest, "lease_id is required")
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	switch op {
	case "renew":
		inc, _, err := p.duration("increment")
		if err != nil {
			return err
		}
		sec, err := s.secrets.Renew(ctx, id, inc)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"request_id": newRequestID(), "lease_id": id, "renewable": sec.Renewable, "lease_duration": fmtSeconds(sec.LeaseDuration), "data": nil, "warnings": warningsOrNil(sec.Warnings)})
		return nil
	case "revoke":
		if err := s.secrets.Revoke(ctx, id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case "lookup":
		l, err := s.secrets.Lookup(id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, data(leaseLookupView(l, time.Now())))
		return nil
	}
	return errStatus(http.StatusNotFound, "no handler for sys/leases/%s: use renew, revoke or lookup", rest)
}

// leaseLookupView is OpenBao's sys/leases/lookup reply: last_renewal is null until the lease
// is renewed, and ttl counts whole seconds left, never below zero (OpenBao has no path field).
func leaseLookupView(l database.Lease, now time.Time) map[string]any {
	out := map[string]any{"id": l.ID, "issue_time": l.Issued, "expire_time": l.Expires,
		"last_renewal": nil, "renewable": l.Renewable, "ttl": max(int64(l.Expires.Sub(now).Round(time.Second).Seconds()), 0)}
	if !l.LastRenewal.IsZero() {
		out["last_renewal"] = l.LastRenewal
	}
	return out
}

// lifecycleFilter is what sys/lifecycle's query selects; the zero value selects everything.
type lifecycleFilter struct {
	kind  fsm.Kind
	id    string
	state fsm.State
	since uint64
}

// parseLifecycleFilter reads kind, id, state and since; a value it cannot use is a 400.
func parseLifecycleFilter(q url.Values) (lifecycleFilter, error) {
	f := lifecycleFilter{kind: fsm.Kind(q.Get("kind")), id: q.Get("id"), state: fsm.State(q.Get("state"))}
	switch f.kind {
	case "", fsm.KindPlugin, fsm.KindConnection:
	default:
		return f, errStatus(http.StatusBadRequest, "kind must be %q or %q", fsm.KindPlugin, fsm.KindConnection)
	}
	if f.state != "" && !knownState(f.state) {
		return f, errStatus(http.StatusBadRequest, "state %q is not a lifecycle state", f.state)
	}
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return f, errStatus(http.StatusBadRequest, "since must be a Raft index (a non-negative integer)")
		}
		f.since = n
	}
	return f, nil
}

// knownState says whether some kind's diagram has st.
func knownState(st fsm.State) bool {
	for _, k := range []fsm.Kind{fsm.KindPlugin, fsm.KindConnection} {
		if slices.Contains(fsm.States(k), st) {
			return true
		}
	}
	return false
}

// machine filters one machine: kind, id and state select it, since trims its history (a
// machine with no transition at or after since is left out).
func (f lifecycleFilter) machine(m core.Machine) (core.Machine, bool) {
	if (f.kind != "" && m.Kind != f.kind) || (f.id != "" && m.ID != f.id) || (f.state != "" && m.State != f.state) {
		return m, false
	}
	if f.since > 0 {
		var h []fsm.Transition
		for _, t := range m.History {
			if t.Index >= f.since {
				h = append(h, t)
			}
		}
		if len(h) == 0 {
			return m, false
		}
		m.History = h
	}
	return m, true
}

// transition filters one streamed transition: state matches the state it leads to.
func (f lifecycleFilter) transition(t fsm.Transition) bool {
	return (f.kind == "" || t.Kind == f.kind) && (f.id == "" || t.ID == f.id) &&
		(f.state == "" || t.To == f.state) && t.Index >= f.since
}

// lifecycle serves sys/lifecycle: the machines (filtered), the WAL and the diagrams, or with
// stream=true the transitions as they are applied, one JSON object a line.
func (s *Server) lifecycle(w http.ResponseWriter, r *http.Request, _ string) error {
	if err := requireMethod(r, http.MethodGet); err != nil {
		return err
	}
	q := r.URL.Query()
	f, err := parseLifecycleFilter(q)
	if err != nil {
		return err
	}
	switch q.Get("stream") {
	case "", "false":
	case "true":
		return s.lifecycleStream(w, r, f)
	default:
		return errStatus(http.StatusBadRequest, "stream must be true or false")
	}
	l := s.node.Lifecycle(q.Get("applied") == "true")
	machines := make([]core.Machine, 0, len(l.Machines))
	for _, m := range l.Machines {
		if m, ok := f.machine(m); ok {
			machines = append(machines, m)
		}
	}
	out := map[string]any{"machines": machines, "wal": l.WAL, "diagrams": map[string]string{
		string(fsm.KindPlugin): fsm.Diagram(fsm.KindPlugin), string(fsm.KindConnection): fsm.Diagram(fsm.KindConnection),
	}}
	if l.Applied != nil {
		out["applied"] = l.Applied
	}
	writeJSON(w, http.StatusOK, data(out))
	return nil
}

// lifecycleStream writes each transition this node applies, as it is applied, as one line of
// JSON (application/x-ndjson), until the client goes away or max_request_duration passes. A
// reader too slow for the node's buffer is cut, with a last line {"error": "..."}.
func (s *Server) lifecycleStream(w http.ResponseWriter, r *http.Request, f lifecycleFilter) error {
	fl, ok := w.(http.Flusher)
	if !ok {
		return errStatus(http.StatusInternalServerError, "this listener cannot stream")
	}
	watch := s.node.WatchLifecycle(core.DefaultWatchBuffer)
	defer watch.Close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	enc := json.NewEncoder(w)
	for {
		select {
		case <-r.Context().Done():
			return nil
		case t, open := <-watch.C:
			if !open {
				if err := watch.Err(); err != nil {
					_ = enc.Encode(map[string]string{"error": err.Error()})
					fl.Flush()
				}
				return nil
			}
			if !f.transition(t) {
				continue
			}
			if err := enc.Encode(t); err != nil {
				return nil // the client went away; nothing more can be written
			}
			fl.Flush()
		}
	}
}

// natsCredentials serves GET sys/nats/credentials?role=operator|watcher|node: the nkey seed of
// one of the cluster's NATS identities (root token only; operator when no role is given).
func (s *Server) natsCredentials(w http.ResponseWriter, r *http.Request, rest string) error {
	if err := requireMethod(r, http.MethodGet); err != nil {
		return err
	}
	if rest != "" {
		return errStatus(http.StatusNotFound, "no handler for route %q", "sys/nats/credentials/"+rest)
	}
	role := r.URL.Query().Get("role")
	if role == "" {
		role = "operator"
	}
	c, err := s.node.NATSCredentials(role)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, data(map[string]any{
		"role": c.Role, "public_key": c.PublicKey, "seed": c.Seed, "cluster": c.Cluster, "url": c.URL,
	}))
	return nil
}
