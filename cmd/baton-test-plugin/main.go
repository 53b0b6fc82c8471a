// Command baton-test-plugin is the bundled test database plugin with fault knobs; see package
// plugins/testplugin for its behaviour and its BATON_TEST_PLUGIN_* variables.
package main

import "github.com/baton-hq/baton/plugins/testplugin"

func main() {
	testplugin.Main()
}
