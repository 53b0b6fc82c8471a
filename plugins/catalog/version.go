package catalog

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-version"
)

// parseVersion parses a semantic version that must start with 'v', as OpenBao requires.
func parseVersion(field, v string) (*version.Version, error) {
	if !strings.HasPrefix(v, "v") {
		if _, err := version.NewSemver(v); err == nil {
			return nil, fmt.Errorf("%w: %s %q lacks the leading 'v': write %q", ErrInvalid, field, v, "v"+v)
		}
		return nil, fmt.Errorf("%w: %s %.64q is not a semantic version: write it as v1.2.3 or v1.2.3-beta", ErrInvalid, field, v)
	}
	sv, err := version.NewSemver(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %.64q is not a semantic version: write it as v1.2.3 or v1.2.3-beta", ErrInvalid, field, v)
	}
	return sv, nil
}

// CanonicalVersion checks a catalog version and returns its canonical form ("v1.0" becomes
// "v1.0.0"). The empty version stays empty: it marks an unversioned entry.
func CanonicalVersion(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	sv, err := parseVersion("version", v)
	if err != nil {
		return "", err
	}
	return "v" + sv.String(), nil
}

// CompareVersions settles the version recorded at registration from the one the operator
// gave and the one the plugin reported when run in metadata mode: the operator's wins when the
// plugin reports none, the plugin's is used when the operator gave none, and two versions that
// differ (semantically: "v1.0" equals "v1.0.0") refuse the registration, naming both.
func CompareVersions(given, reported string) (string, error) {
	var rv *version.Version
	if reported != "" {
		var err error
		if rv, err = parseVersion("version reported by the plugin", reported); err != nil {
			return "", err
		}
	}
	if given == "" {
		if rv == nil {
			return "", nil
		}
		return "v" + rv.String(), nil
	}
	gv, err := parseVersion("version", given)
	if err != nil {
		return "", err
	}
	if rv != nil && !gv.Equal(rv) {
		return "", fmt.Errorf("%w: version %q was given but the plugin reports %q: register it with version %q or without a version",
			ErrInvalid, given, reported, "v"+rv.String())
	}
	return "v" + gv.String(), nil
}

// compareCanonical orders two canonical versions: the unversioned entry first, then by
// semantic precedence, then by text so that the order is total and every node agrees.
func compareCanonical(a, b string) int {
	if a == b {
		return 0
	}
	if a == "" {
		return -1
	}
	if b == "" {
		return 1
	}
	av, aerr := version.NewSemver(a)
	bv, berr := version.NewSemver(b)
	if aerr == nil && berr == nil {
		if c := av.Compare(bv); c != 0 {
			return c
		}
	}
	return strings.Compare(a, b)
}
