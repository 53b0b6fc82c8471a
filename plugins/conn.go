package plugins

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	metrics "github.com/hashicorp/go-metrics/compat"

	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/plugins/dbplugin"
)

// deathGrace is how long a call that failed with Unavailable waits for its process to be seen
// gone before taking the error as the plugin's own answer. go-plugin notices an exit about
// 5 ms after a SIGKILL.
const deathGrace = time.Second

// Conn is one database connection served by a plugin process; it implements
// dbplugin.Database. Its plugin instance is idle (no process) after a crash or before its
// first use, and a call on an idle or dead instance starts a process, re-initialises the
// connection with the request it was opened (or last re-initialised) with and, when the call
// itself met the death, retries it once. A retried NewUser may thus run twice on the database
// if the plugin died after acting and before answering, as on OpenBao.
//
// On a multiplexed process each attachment gets a fresh random multiplex id
// (crypto/rand.Text) rather than one derived from the connection id: an instance a
// failed Close left behind in a live process can never be confused with a new one.
type Conn struct {
	pool  *Pool
	id    string
	entry catalog.Entry

	restartMu sync.Mutex // one (re)start at a time; held across the start

	// Guarded by pool.mu.
	init    dbplugin.InitializeRequest
	proc    *process          // nil while idle
	db      dbplugin.Database // the instance on proc
	ready   bool              // Open finished
	closed  bool
	pidHint int // last pid, for the event KillAll sends
	// dbType is the plugin's Type() ("postgres"), asked once its first instance is up: the
	// <name> of OpenBao's database.<name>.<op> metrics.
	dbType string
}

var _ dbplugin.Database = (*Conn)(nil)

// ID returns the connection id.
func (c *Conn) ID() string { return c.id }

// Entry returns the catalog entry the connection runs.
func (c *Conn) Entry() catalog.Entry { return c.entry }

// PID returns the pid of the process serving the connection, 0 while it is idle.
func (c *Conn) PID() int {
	c.pool.mu.Lock()
	defer c.pool.mu.Unlock()
	if c.proc == nil || c.proc.exited() {
		return 0
	}
	return c.proc.pid
}

// Initialize re-initialises the connection with a new configuration and keeps it for later
// restarts.
func (c *Conn) Initialize(ctx context.Context, req dbplugin.InitializeRequest) (dbplugin.InitializeResponse, error) {
	var resp dbplugin.InitializeResponse
	start := time.Now()
	err := c.do(ctx, "Initialize", func(db dbplugin.Database) (err error) {
		resp, err = db.Initialize(ctx, req)
		return err
	})
	c.measure("Initialize", start, err)
	if err != nil {
		return dbplugin.InitializeResponse{}, err
	}
	c.pool.mu.Lock()
	c.init = req
	c.pool.mu.Unlock()
	return resp, nil
}

// NewUser creates a user through the plugin.
func (c *Conn) NewUser(ctx context.Context, req dbplugin.NewUserRequest) (dbplugin.NewUserResponse, error) {
	var resp dbplugin.NewUserResponse
	start := time.Now()
	err := c.do(ctx, "NewUser", func(db dbplugin.Database) (err error) {
		resp, err = db.NewUser(ctx, req)
		return err
	})
	c.measure("NewUser", start, err)
	return resp, err
}

// UpdateUser changes a user through the plugin.
func (c *Conn) UpdateUser(ctx context.Context, req dbplugin.UpdateUserRequest) (dbplugin.UpdateUserResponse, error) {
	var resp dbplugin.UpdateUserResponse
	start := time.Now()
	err := c.do(ctx, "UpdateUser", func(db dbplugin.Database) (err error) {
		resp, err = db.UpdateUser(ctx, req)
		return err
	})
	c.measure("UpdateUser", start, err)
	return resp, err
}

// DeleteUser removes a user through the plugin.
func (c *Conn) DeleteUser(ctx context.Context, req dbplugin.DeleteUserRequest) (dbplugin.DeleteUserResponse, error) {
	var resp dbplugin.DeleteUserResponse
	start := time.Now()
	err := c.do(ctx, "DeleteUser", func(db dbplugin.Database) (err error) {
		resp, err = db.DeleteUser(ctx, req)
		return err
	})
	c.measure("DeleteUser", start, err)
	return resp, err
}

// Type asks the plugin its database type.
func (c *Conn) Type() (string, error) {
	var t string
	err := c.do(context.Background(), "Type", func(db dbplugin.Database) (err error) {
		t, err = db.Type()
		return err
	})
	return t, err
}

// Close closes the connection's plugin instance and stops its process when no other
// connection uses it. The connection never starts a process again. Closing twice is not an
// error.
func (c *Conn) Close() error {
	p := c.pool
	c.restartMu.Lock() // a start in progress finishes (bounded by the start timeout) first
	defer c.restartMu.Unlock()
	p.mu.Lock()
	if c.closed {
		p.mu.Unlock()
		return nil
	}
	c.closed = true
	if p.conns[c.id] == c {
		delete(p.conns, c.id)
	}
	pr, db := c.proc, c.db
	p.mu.Unlock()

	var err error
	pid := 0
	if pr != nil {
		pid = pr.pid
		if !pr.exited() {
			start := time.Now()
			cerr := db.Close()
			c.measure("Close", start, cerr)
			if cerr != nil && !(dbplugin.IsUnavailable(cerr) && pr.exited()) {
				err = fmt.Errorf("close plugin connection %q: %w", c.id, cerr)
			}
		}
		p.release(c, pr)
	}
	p.emit(InstanceEvent{ConnID: c.id, Kind: EventStopped, PID: pid})
	return err
}

// do runs one call on the connection's instance, starting it when idle, and retries the call
// once on a new process when the call met its process's death.
func (c *Conn) do(ctx context.Context, method string, call func(dbplugin.Database) error) error {
	db, pr, err := c.instance(ctx)
	if err != nil {
		return fmt.Errorf("%s on plugin connection %q: %w", method, c.id, err)
	}
	err = call(db)
	if err != nil && c.isClosed() {
		// Closed under the call (a reload, a config change): the caller may open it again.
		return fmt.Errorf("%s on plugin connection %q: %w (%w)", method, c.id, ErrConnClosed, err)
	}
	if err == nil || !processDied(pr, err) {
		return err
	}
	pr.logger.Info("plugin process died during a call; starting a new one and retrying once",
		"connection", c.id, "method", method, "pid", pr.pid)
	c.detach(pr)
	db, _, rerr := c.instance(ctx)
	if rerr != nil {
		return fmt.Errorf("%s on plugin connection %q: its process died and the restart failed: %w", method, c.id, rerr)
	}
	return call(db)
}

// typeName is the plugin's database type for the metrics, the catalog name until it is known.
func (c *Conn) typeName() string {
	c.pool.mu.Lock()
	defer c.pool.mu.Unlock()
	return c.dbType
}

// measure records OpenBao's metrics of one call to the plugin: its duration under
// database.<op> and database.<type>.<op>, and an error counter under the same names plus
// .error (OpenBao's databaseMetricsMiddleware, without its call counter, whose name a
// Prometheus scrape would see twice: the duration summary's _count is the number of calls).
func (c *Conn) measure(op string, start time.Time, err error) {
	typ := c.typeName()
	if typ == "" {
		typ = c.entry.Name
	}
	metrics.MeasureSince([]string{"database", op}, start)
	metrics.MeasureSince([]string{"database", typ, op}, start)
	if err != nil {
		metrics.IncrCounter([]string{"database", op, "error"}, 1)
		metrics.IncrCounter([]string{"database", typ, op, "error"}, 1)
	}
}

// isClosed reports whether the connection was closed.
func (c *Conn) isClosed() bool {
	c.pool.mu.Lock()
	defer c.pool.mu.Unlock()
	return c.closed
}

// processDied tells a call that failed because its process is gone from one the plugin
// answered.
func processDied(pr *process, err error) bool {
	if pr.exited() {
		return true
	}
	if !dbplugin.IsUnavailable(err) {
		return false
	}
	t := time.NewTimer(deathGrace)
	defer t.Stop()
	select {
	case <-pr.gone:
		return true
	case <-t.C:
		return false
	}
}

// instance returns the live instance of the connection, starting a process and initialising
// the connection when it is idle.
func (c *Conn) instance(ctx context.Context) (dbplugin.Database, *process, error) {
	if db, pr, err := c.attached(); err != nil || db != nil {
		return db, pr, err
	}
	c.restartMu.Lock()
	defer c.restartMu.Unlock()
	if db, pr, err := c.attached(); err != nil || db != nil {
		return db, pr, err
	}
	c.pool.mu.Lock()
	restart := c.ready // opened before and idle now: its process died
	c.pool.mu.Unlock()
	if _, err := c.connect(ctx); err != nil {
		return nil, nil, err
	}
	if restart {
		metrics.IncrCounterWithLabels([]string{"baton", "plugin", "restarts"}, 1, []metrics.Label{{Name: "plugin", Value: c.entry.Name}})
	}
	db, pr, err := c.attached()
	if err == nil && db == nil {
		err = fmt.Errorf("%w: the new process exited at once", dbplugin.ErrPluginUnavailable)
	}
	return db, pr, err
}

// attached returns the connection's live instance, nil when idle.
func (c *Conn) attached() (dbplugin.Database, *process, error) {
	c.pool.mu.Lock()
	defer c.pool.mu.Unlock()
	if c.closed {
		return nil, nil, ErrConnClosed
	}
	if c.proc != nil && !c.proc.exited() {
		return c.db, c.proc, nil
	}
	return nil, nil, nil
}

// detach marks the connection idle when it is still on pr.
func (c *Conn) detach(pr *process) {
	c.pool.mu.Lock()
	defer c.pool.mu.Unlock()
	if c.proc == pr {
		c.proc, c.db = nil, nil
	}
}

// connect attaches the connection to a process (started or joined) and initialises it there.
// c.restartMu is held.
func (c *Conn) connect(ctx context.Context) (dbplugin.InitializeResponse, error) {
	p := c.pool
	pr, err := p.acquire(ctx, c)
	if err != nil {
		return dbplugin.InitializeResponse{}, err
	}
	p.mu.Lock()
	init := c.init
	p.mu.Unlock()
	db := pr.db.Database(rand.Text())
	start := time.Now()
	resp, err := db.Initialize(ctx, init)
	if err == nil && c.typeName() == "" {
		if t, terr := db.Type(); terr == nil {
			p.mu.Lock()
			c.dbType = t
			p.mu.Unlock()
		}
	}
	c.measure("Initialize", start, err)
	if err != nil {
		if pr.multiplexed && !pr.exited() {
			_ = db.Close() // the plugin made an instance for the id; do not leave it behind
		}
		p.release(c, pr)
		return dbplugin.InitializeResponse{}, fmt.Errorf("initialize %s: %w", describe(c.entry), err)
	}
	p.mu.Lock()
	switch {
	case c.closed:
		p.mu.Unlock()
		_ = db.Close()
		p.release(c, pr)
		return dbplugin.InitializeResponse{}, ErrConnClosed
	case pr.exited():
		p.mu.Unlock()
		p.release(c, pr)
		return dbplugin.InitializeResponse{}, fmt.Errorf("initialize %s: %w: the process exited", describe(c.entry), dbplugin.ErrPluginUnavailable)
	}
	c.proc, c.db = pr, db
	p.mu.Unlock()
	return resp, nil
}
