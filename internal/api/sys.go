package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/internal/core"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/plugins/database"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

func (s *Server) sysInit(w http.ResponseWriter, r *http.Request, _ string) error {
	if r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, map[string]any{"initialized": s.node.Initialized()})
		return nil
	}
	if err := requireMethod(r, http.MethodPut, http.MethodPost); err != nil {
		return err
	}
	b, err := body(r)
	if err != nil {
		return err
	}
	p := params(b)
	for _, k := range []string{"secret_shares", "secret_threshold"} {
		if v, _ := p.str(k); v != "" && v != "1" {
			return errStatus(http.StatusBadRequest, "%s=%s: Baton issues a single unseal key in this release; use secret_shares=1 and secret_threshold=1", k, v)
		}
	}
	root, _ := p.str("root_token")
	res, err := s.node.Init(r.Context(), root)
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
	hexKeys := make([]string, len(res.Keys))
	for i, k := range res.Keys {
		raw, _ := base64.StdEncoding.DecodeString(k)
		hexKeys[i] = hex.EncodeToString(raw)
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": hexKeys, "keys_base64": res.Keys, "root_token": res.RootToken})
	return nil
}

func (s *Server) sealStatus() map[string]any {
	init := s.node.Initialized()
	var index uint64
	if st := s.node.Store(); st != nil {
		index = st.AppliedIndex()
	}
	return map[string]any{
		"type": "shamir", "initialized": init, "sealed": s.node.Sealed() || !init,
		"t": 1, "n": 1, "progress": 0, "nonce": "", "version": s.version, "build_date": "",
		"migration": false, "cluster_name": s.node.Config().Cluster, "cluster_id": s.node.Config().Cluster,
		"recovery_seal": false, "storage_type": "raft", "raft_applied_index": index,
	}
}

func (s *Server) sysSealStatus(w http.ResponseWriter, r *http.Request, _ string) error {
	writeJSON(w, http.StatusOK, s.sealStatus())
	return nil
}

// decodeUnsealKey accepts the key as hex (OpenBao's "keys") or base64 ("keys_base64").
func decodeUnsealKey(k string) (string, error) {
	k = strings.TrimSpace(k)
	if raw, err := hex.DecodeString(k); err == nil && len(raw) == barrier.KeySize {
		return base64.StdEncoding.EncodeToString(raw), nil
	}
	if _, err := barrier.DecodeKey(k); err != nil {
		return "", errStatus(http.StatusBadRequest, "key: %v (give the unseal key printed by sys/init, hex or base64)", err)
	}
	return k, nil
}

func (s *Server) sysUnseal(w http.ResponseWriter, r *http.Request, _ string) error {
	if err := requireMethod(r, http.MethodPut, http.MethodPost); err != nil {
		return err
	}
	b, err := body(r)
	if err != nil {
		return err
	}
	p := params(b)
	if reset, _ := p.boolean("reset"); reset != nil && *reset {
		writeJSON(w, http.StatusOK, s.sealStatus())
		return nil
	}
	k, _ := p.str("key")
	if k == "" {
		return errStatus(http.StatusBadRequest, "key is required: the unseal key printed by sys/init")
	}
	if err := s.Unseal(r.Context(), k); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.sealStatus())
	return nil
}

// Unseal unseals the node with an unseal key (hex or base64); a node that has no cluster yet
// then joins one through its join addresses (retry_join or sys/storage/raft/join).
func (s *Server) Unseal(ctx context.Context, k string) error {
	key, err := decodeUnsealKey(k)
	if err != nil {
		return err
	}
	joining := !s.node.InitializedLocally()
	if joining && len(s.joinTargets()) == 0 {
		return errStatus(http.StatusBadRequest, "this node has no cluster yet: run sys/init on it, or sys/storage/raft/join (or retry_join in its config) before unsealing")
	}
	if err := s.node.Unseal(ctx, key); err != nil {
		if errors.Is(err, barrier.ErrWrongKey) {
			return errStatus(http.StatusBadRequest, "the unseal key does not match this cluster")
		}
		return err
	}
	if joining {
		if err := s.join(ctx); err != nil {
			_ = s.node.Seal(context.WithoutCancel(ctx))
			return err
		}
	}
	return nil
}

func (s *Server) joinTargets() []string {
	s.joinMu.Lock()
	defer s.joinMu.Unlock()
	return slices.Clone(s.joinLeader)
}

// join asks an active node to add this one as a voter, proving with the barrier MAC that it
// holds the unseal key, retrying each known leader address until the deadline.
func (s *Server) join(ctx context.Context) error {
	cfg := s.node.Config()
	proof, err := s.node.Barrier().MAC([]byte("baton-join\x00" + cfg.NodeID + "\x00" + cfg.RaftAdvertise))
	if err != nil {
		return err
	}
	req, _ := json.Marshal(map[string]string{"node_id": cfg.NodeID, "raft_addr": cfg.RaftAdvertise, "api_addr": cfg.APIAddr, "proof": hex.EncodeToString(proof)})
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last error
	for {
		for _, addr := range s.joinTargets() {
			hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(addr, "/")+"/v1/sys/storage/raft/add-peer", bytes.NewReader(req))
			if err != nil {
				return errStatus(http.StatusBadRequest, "leader_api_addr %q: %v", addr, err)
			}
			resp, err := http.DefaultClient.Do(hreq)
			if err != nil {
				last = err
				continue
			}
			var out struct {
				Errors []string `json:"errors"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNoContent {
				return s.node.AdoptSeal(ctx)
			}
			last = fmt.Errorf("%s answered %d: %s", addr, resp.StatusCode, strings.Join(out.Errors, "; "))
			if resp.StatusCode == http.StatusForbidden {
				return errStatus(http.StatusBadRequest, "joining the cluster: %v", last)
			}
		}
		select {
		case <-ctx.Done():
			return errStatus(http.StatusServiceUnavailable, "joining the cluster timed out: %v", last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (s *Server) sysHealth(w http.ResponseWriter, r *http.Request, _ string) error {
	q := r.URL.Query()
	code := func(name string, def int) int {
		if v := q.Get(name); v != "" {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
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
	id, addr := s.node.LeaderAPIAddr()
	active := s.node.IsActive()
	if active {
		addr = s.node.Config().APIAddr
	}
	var raftAddr string
	var committed uint64
	if st := s.node.Store(); st != nil {
		_, raftAddr = st.Leader()
		committed = st.AppliedIndex()
	}
	_ = id
	writeJSON(w, http.StatusOK, map[string]any{
		"ha_enabled": true, "is_self": active, "active_time": time.Time{}, "leader_address": addr,
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
	id := rand.Text()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := s.node.StepDown(ctx, id, command.SourceAPI); err != nil {
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
	if s.node.InitializedLocally() {
		return errStatus(http.StatusBadRequest, "this node is already part of a cluster")
	}
	s.joinMu.Lock()
	if !slices.Contains(s.joinLeader, addr) {
		s.joinLeader = append(s.joinLeader, addr)
	}
	s.joinMu.Unlock()
	s.startProbe()
	writeJSON(w, http.StatusOK, map[string]any{"joined": true})
	return nil
}

// raftAddPeer is called by a joining node on the active node.
func (s *Server) raftAddPeer(w http.ResponseWriter, r *http.Request, _ string) error {
	b, err := body(r)
	if err != nil {
		return err
	}
	p := params(b)
	id, _ := p.str("node_id")
	raftAddr, _ := p.str("raft_addr")
	apiAddr, _ := p.str("api_addr")
	proof, _ := p.str("proof")
	if id == "" || raftAddr == "" || apiAddr == "" || proof == "" {
		return errStatus(http.StatusBadRequest, "node_id, raft_addr, api_addr and proof are required")
	}
	want, err := s.node.Barrier().MAC([]byte("baton-join\x00" + id + "\x00" + raftAddr))
	if err != nil {
		return err
	}
	got, err := hex.DecodeString(proof)
	if err != nil || !bytes.Equal(got, want) {
		return errStatus(http.StatusForbidden, "join refused: the joining node's unseal key does not match this cluster")
	}
	st := s.node.Store()
	if st == nil {
		return core.ErrSealed
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	if _, err := s.node.Propose(ctx, state.TypeNodeJoin, "", command.SourceAPI, state.NodeJoin{Node: state.Node{ID: id, APIAddr: apiAddr, RaftAddr: raftAddr}}); err != nil {
		return err
	}
	if err := st.Join(ctx, id, raftAddr); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"joined": true})
	return nil
}

func (s *Server) raftConfiguration(w http.ResponseWriter, r *http.Request, _ string) error {
	st := s.node.Store()
	if st == nil {
		return core.ErrSealed
	}
	servers, err := st.Configuration()
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(servers))
	for _, sv := range servers {
		out = append(out, map[string]any{"node_id": sv.ID, "address": sv.Address, "leader": sv.Leader, "voter": sv.Voter, "protocol_version": "3"})
	}
	writeJSON(w, http.StatusOK, data(map[string]any{"config": map[string]any{"servers": out, "index": st.AppliedIndex()}}))
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
	if id == s.node.Config().NodeID {
		return errStatus(http.StatusBadRequest, "cannot remove the active node %q: step it down first", id)
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	if err := s.node.Store().Remove(ctx, id); err != nil {
		return err
	}
	if _, err := s.node.Propose(ctx, state.TypeNodeRemove, "", command.SourceAPI, state.NodeRemove{ID: id}); err != nil {
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
		var detailed []map[string]any
		s.node.State().View(func(d *state.Data) {
			for _, t := range []catalog.Type{catalog.TypeAuth, catalog.TypeDatabase, catalog.TypeSecret} {
				names := d.Catalog.List(string(t))
				if names == nil {
					names = []string{}
				}
				out[string(t)] = names
			}
			for _, e := range d.Catalog.All() {
				detailed = append(detailed, entryView(e))
			}
		})
		if detailed == nil {
			detailed = []map[string]any{}
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
		var names []string
		s.node.State().View(func(d *state.Data) { names = d.Catalog.List(parts[0]) })
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
			var e catalog.Entry
			var err error
			s.node.State().View(func(d *state.Data) { e, err = d.Catalog.Get(typ, name, version) })
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
			_, err := s.node.Propose(ctx, state.TypeCatalogDelete, "", command.SourceAPI, state.CatalogDelete{Type: typ, Name: name, Version: version})
			if err != nil && !errors.Is(err, state.ErrNotFound) {
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
	if err := p.unknown("sha256", "command", "args", "env", "version", "type", "name"); err != nil {
		return err
	}
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
	// Verify runs the plugin: only a node that still leads may (a resumed, deposed leader
	// must not start a process for a request it took before it froze).
	if err := s.node.VerifyActive(ctx); err != nil {
		return err
	}
	verified, _, err := s.pool.Verify(ctx, e)
	if err != nil {
		return errStatus(http.StatusBadRequest, "%v", err)
	}
	if len(verified.Env) > 0 {
		sealed, err := s.node.Barrier().Encrypt([]byte(strings.Join(verified.Env, "\x00")))
		if err != nil {
			return err
		}
		verified.SealedEnv = sealed
	}
	verified.Env = nil
	if _, err := s.node.Propose(ctx, state.TypeCatalogPut, "", command.SourceAPI, state.CatalogPut{Entry: verified}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request, _ string) error {
	if err := requireMethod(r, http.MethodPut, http.MethodPost); err != nil {
		return err
	}
	b, err := body(r)
	if err != nil {
		return err
	}
	p := params(b)
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
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	id := rand.Text()
	if plugin != "" {
		if _, err := s.engine.Reload(ctx, plugin, "", database.Source{EventID: id, From: command.SourceAPI}); err != nil {
			return err
		}
	}
	for i, m := range mounts {
		if _, err := s.engine.Reload(ctx, "", m, database.Source{EventID: fmt.Sprintf("%s-%d", id, i), From: command.SourceAPI}); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, data(map[string]any{"reload_id": id}))
	return nil
}

func mountView(m state.Mount) map[string]any {
	return map[string]any{"type": m.Type, "description": m.Description, "config": map[string]any{}, "options": map[string]any{},
		"local": false, "seal_wrap": false, "plugin_version": m.PluginVersion, "running_plugin_version": m.PluginVersion}
}

func (s *Server) mounts(w http.ResponseWriter, r *http.Request, rest string) error {
	path := strings.Trim(rest, "/")
	if path == "" {
		if err := requireMethod(r, http.MethodGet); err != nil {
			return err
		}
		out := map[string]any{}
		s.node.State().View(func(d *state.Data) {
			for p, m := range d.Mounts {
				out[p] = mountView(m)
			}
		})
		reply := data(out)
		for k, v := range out { // OpenBao also lists the mounts at the top level
			reply[k] = v
		}
		writeJSON(w, http.StatusOK, reply)
		return nil
	}
	mount := state.NormalizeMount(path)
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	switch r.Method {
	case http.MethodGet:
		var m state.Mount
		var ok bool
		s.node.State().View(func(d *state.Data) { m, ok = d.Mounts[mount] })
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
		_, err = s.node.Propose(ctx, state.TypeMountPut, "", command.SourceAPI, state.MountPut{Mount: state.Mount{Path: mount, Type: typ, Description: desc, PluginName: pname, PluginVersion: pver}})
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodDelete:
		if err := s.engine.DisableMount(ctx, mount, database.APISource); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return requireMethod(r, http.MethodGet, http.MethodPost, http.MethodDelete)
}

func (s *Server) leases(w http.ResponseWriter, r *http.Request, rest string) error {
	if err := requireMethod(r, http.MethodPut, http.MethodPost); err != nil {
		return err
	}
	b, err := body(r)
	if err != nil {
		return err
	}
	p := params(b)
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
		sec, err := s.engine.Renew(ctx, id, inc)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"request_id": newRequestID(), "lease_id": id, "renewable": sec.Renewable, "lease_duration": fmtSeconds(sec.LeaseDuration), "data": nil})
		return nil
	case "revoke":
		if err := s.engine.Revoke(ctx, id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case "lookup":
		l, err := s.engine.Lookup(id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, data(map[string]any{"id": l.ID, "issue_time": l.Issued, "expire_time": l.Expires,
			"last_renewal": nil, "renewable": l.Renewable, "ttl": int64(time.Until(l.Expires).Seconds())}))
		return nil
	}
	return errStatus(http.StatusNotFound, "no handler for sys/leases/%s: use renew, revoke or lookup", rest)
}

func (s *Server) lifecycle(w http.ResponseWriter, r *http.Request, _ string) error {
	type machine struct {
		Kind    fsm.Kind         `json:"kind"`
		ID      string           `json:"id"`
		State   fsm.State        `json:"state"`
		History []fsm.Transition `json:"history"`
	}
	var ms []machine
	var wals []map[string]any
	var applied []state.AppliedEvent
	s.node.State().View(func(d *state.Data) {
		for _, m := range d.Machines {
			ms = append(ms, machine{Kind: m.Kind(), ID: m.ID(), State: m.State(), History: m.History()})
		}
		for _, e := range d.WAL.List() {
			wals = append(wals, map[string]any{"id": e.ID, "kind": e.Kind, "target": e.Target, "created": e.Created,
				"index": e.Index, "attempts": e.Attempts, "last_error": e.LastError})
		}
		if r.URL.Query().Get("applied") == "true" {
			applied = slices.Clone(d.Log)
		}
	})
	sort.Slice(ms, func(i, j int) bool {
		if ms[i].Kind != ms[j].Kind {
			return ms[i].Kind < ms[j].Kind
		}
		return ms[i].ID < ms[j].ID
	})
	out := map[string]any{"machines": ms, "wal": wals, "diagrams": map[string]string{
		string(fsm.KindPlugin): fsm.Diagram(fsm.KindPlugin), string(fsm.KindConnection): fsm.Diagram(fsm.KindConnection),
	}}
	if applied != nil {
		out["applied"] = applied
	}
	writeJSON(w, http.StatusOK, data(out))
	return nil
}
