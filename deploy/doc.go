// Package deploy holds the files that run Konsil elsewhere than `konsil
// serve` on a shell: the Dockerfile, compose.yaml (Redis and two nodes),
// the systemd unit and the Kubernetes manifests in k8s/. It has no code;
// its test holds those files to what the server really has: its flags and
// their KONSIL_* variables and defaults (from `konsil serve -h` of a fresh
// build), its secrets (package keyring) and the health paths it serves (a
// live server). docker, compose and kubectl are not on the test machines;
// that test is the check that runs everywhere.
package deploy
