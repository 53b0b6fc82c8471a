package testplugin

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"
)

// ErrLoginFailed is returned by Login, and by database calls whose root credentials are wrong,
// when a user does not exist, has another password or has expired.
var ErrLoginFailed = errors.New("authentication failed")

// User is one row of the test database's user table.
type User struct {
	Password       string    `json:"password,omitempty"`
	PublicKey      []byte    `json:"public_key,omitempty"`
	Subject        string    `json:"subject,omitempty"`
	CredentialType string    `json:"credential_type"`
	Expiration     time.Time `json:"expiration,omitzero"`
	// Statements are the last statements run for the user, templates filled in, so that
	// tests can see what the host sent.
	Statements []string `json:"statements,omitempty"`
}

// table is the whole test database: what a state file's lines add up to (log.go).
type table struct {
	// RootUsername is the user created from the first Initialize's username.
	RootUsername string          `json:"root_username,omitempty"`
	Users        map[string]User `json:"users"`
}

func newTable() *table { return &table{Users: make(map[string]User)} }

// login checks a user's password as the database would at connection time.
func (t *table) login(user, password string, now time.Time) error {
	u, ok := t.Users[user]
	if !ok || u.Password == "" || subtle.ConstantTimeCompare([]byte(u.Password), []byte(password)) != 1 {
		return fmt.Errorf("%w for user %q", ErrLoginFailed, user)
	}
	if !u.Expiration.IsZero() && !now.Before(u.Expiration) {
		return fmt.Errorf("%w for user %q: expired at %s", ErrLoginFailed, user, u.Expiration.UTC().Format(time.RFC3339))
	}
	return nil
}

// lockState takes an exclusive flock beside the state file, so that two plugin processes (an
// old one not yet dead and its successor) or two instances of one process never interleave a
// read-modify-write. The returned function releases it.
func lockState(path string) (func(), error) {
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock test database state: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock test database state: %w", err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// Login checks a user's password against a state file, as a client logging in to the database
// would. It fails with ErrLoginFailed for an unknown user, a wrong password or an expired user;
// the password never appears in the error.
func Login(stateFile, user, password string) error {
	t, err := readTable(stateFile)
	if err != nil {
		return err
	}
	if t == nil {
		return fmt.Errorf("%w for user %q: no database at %s", ErrLoginFailed, user, stateFile)
	}
	return t.login(user, password, time.Now())
}

// Users lists the users in a state file, sorted (nil when there is no database yet), so that
// tests can check that revoked credentials are gone.
func Users(stateFile string) ([]string, error) {
	t, err := readTable(stateFile)
	if err != nil || t == nil {
		return nil, err
	}
	names := make([]string, 0, len(t.Users))
	for n := range t.Users {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

// ReadUser returns one user's row from a state file, for tests that check expirations or the
// statements a user was created with.
func ReadUser(stateFile, user string) (User, error) {
	t, err := readTable(stateFile)
	if err != nil {
		return User{}, err
	}
	if t == nil {
		return User{}, fmt.Errorf("no test database at %s", stateFile)
	}
	u, ok := t.Users[user]
	if !ok {
		return User{}, fmt.Errorf("user %q does not exist in %s", user, stateFile)
	}
	return u, nil
}
