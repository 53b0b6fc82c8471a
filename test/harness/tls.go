package harness

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/baton-hq/baton/internal/apitls"
)

// makeCA makes the cluster's API CA in Dir/tls and points the harness's client at it.
func (c *Cluster) makeCA() error {
	ca, err := apitls.NewCA("harness CA", 24*time.Hour)
	if err != nil {
		return err
	}
	dir := filepath.Join(c.Dir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	c.CA, c.CAFile = ca, filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(c.CAFile, ca.CertPEM, 0o644); err != nil {
		return err
	}
	tc, err := apitls.ClientConfig(apitls.ClientOptions{CACert: c.CAFile})
	if err != nil {
		return err
	}
	c.hc.Transport.(*http.Transport).TLSClientConfig = tc
	return nil
}

func (c *Cluster) certFile(n *Node) string { return filepath.Join(c.Dir, "tls", n.ID+".pem") }
func (c *Cluster) keyFile(n *Node) string  { return filepath.Join(c.Dir, "tls", n.ID+"-key.pem") }

// issue writes node n's certificate for 127.0.0.1 and localhost.
func (c *Cluster) issue(n *Node) error {
	is, err := c.CA.Issue(n.ID, []string{"127.0.0.1", "localhost"}, 24*time.Hour)
	if err != nil {
		return fmt.Errorf("harness: certificate for %s: %w", n.ID, err)
	}
	return is.WriteFiles(c.certFile(n), c.keyFile(n))
}
