// Package audit owns Baton's audit devices, as OpenBao has them: a Broker holding the enabled
// devices (those the HCL config declares and, only when unsafe_allow_api_audit_creation is
// set, those enabled through sys/audit), the file device, and the entry format — one JSON
// object per request and one per response, in OpenBao's shape, with every string of the
// request and response data and every token and accessor HMAC-SHA256'd under a per-device
// salt.
//
// OpenBao's rule holds: once a device is enabled, a request that no device can record fails.
// The Broker reports that as an error wrapping ErrNoDevice; the HTTP edge then answers 500
// without running the handler (request entry) or without sending the reply (response entry).
//
// A file device may never write inside the plugin directory or the data dir (CVE-2025-6000,
// CVE-2025-54997: a device pointed into the plugin directory turned the audit log into an
// executable); the path is checked with every symlink resolved, when the device is declared
// and again when its file is opened.
//
// Each device's salt is kept in the replicated state, sealed by the barrier (StateSalts); the
// package may import the barrier and raftstore's state and command packages, and nothing
// above them (not internal/api, internal/server, cmd).
package audit
