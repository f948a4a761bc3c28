// The rendered ConfigMap's config given to headroom-server's own parser
// (--check-config), with the files the pod mounts laid out in a scratch
// directory in their place.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// mount is one volume mount of the server container and what it holds.
type mount struct {
	path  string            // mountPath
	files map[string]string // file name -> content (ConfigMap / Secret data)
	// An existing Secret the chart only names: its files are stood in for.
	external bool
}

// serverMounts are the ConfigMap and Secret volumes of the Deployment's
// first container, with the data the release renders for them.
func serverMounts(objects []Object) ([]mount, error) {
	c := &checker{objects: objects}
	deployments := c.ofKind("Deployment")
	if len(deployments) != 1 {
		return nil, fmt.Errorf("expected one Deployment, found %d", len(deployments))
	}
	podSpec := get(deployments[0].Body, "spec", "template", "spec")
	containers := list(get(podSpec, "containers"))
	if len(containers) == 0 {
		return nil, fmt.Errorf("the Deployment has no container")
	}
	var mounts []mount
	for _, m := range list(get(containers[0], "volumeMounts")) {
		name, _ := get(m, "name").(string)
		mp, _ := get(m, "mountPath").(string)
		for _, v := range list(get(podSpec, "volumes")) {
			if get(v, "name") != name {
				continue
			}
			if cm, ok := get(v, "configMap", "name").(string); ok {
				o := c.find("ConfigMap", cm)
				if o == nil {
					return nil, fmt.Errorf("volume %s: no ConfigMap %s", name, cm)
				}
				data, _ := stringMap(o.Body["data"])
				mounts = append(mounts, mount{path: mp, files: data})
			}
			if s, ok := get(v, "secret", "secretName").(string); ok {
				if o := c.find("Secret", s); o != nil {
					data, _ := stringMap(o.Body["stringData"])
					mounts = append(mounts, mount{path: mp, files: data})
				} else {
					mounts = append(mounts, mount{path: mp, files: map[string]string{}, external: true})
				}
			}
		}
	}
	return mounts, nil
}

// containerEnv is the environment of the Deployment's first container as
// NAME=VALUE: a value as given, one from a Secret or a field (valueFrom) a
// stand-in.
func containerEnv(objects []Object) []string {
	var env []string
	for _, d := range (&checker{objects: objects}).ofKind("Deployment") {
		containers := list(get(d.Body, "spec", "template", "spec", "containers"))
		if len(containers) == 0 {
			continue
		}
		for _, e := range list(get(containers[0], "env")) {
			name, _ := get(e, "name").(string)
			value, _ := get(e, "value").(string)
			if get(e, "valueFrom") != nil {
				value = "stand-in value of " + name
			}
			env = append(env, name+"="+value)
		}
	}
	return env
}

// CheckServerConfig writes the mounted files under a scratch directory,
// points the config's paths into the mounts there, and runs `server
// --check-config --config FILE` on the config the image's entrypoint reads
// (configPath), in the container's environment. Returns the server's output, or an error with it.
func CheckServerConfig(objects []Object, server, configPath string) (string, error) {
	mounts, err := serverMounts(objects)
	if err != nil {
		return "", err
	}
	scratch, err := os.MkdirTemp("", "helm-render-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(scratch)
	// Longest mount paths first, so that nested mounts are rewritten whole.
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i].path) > len(mounts[j].path) })
	var config *string
	var rewrites []string
	for i := range mounts {
		m := &mounts[i]
		dir := filepath.Join(scratch, m.path)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", err
		}
		rewrites = append(rewrites, m.path+"/", dir+"/")
		for name, content := range m.files {
			if m.path+"/"+name == configPath {
				text := content
				config = &text
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
				return "", err
			}
		}
	}
	if config == nil {
		return "", fmt.Errorf("no ConfigMap is mounted at %s", configPath)
	}
	text := strings.NewReplacer(rewrites...).Replace(*config)
	// An existing Secret's entries (not in the release): a stand-in key in
	// each file the config names under its mount.
	for _, m := range mounts {
		if !m.external {
			continue
		}
		dir := filepath.Join(scratch, m.path)
		for _, field := range strings.Fields(text) {
			if strings.HasPrefix(field, dir+"/") {
				file := strings.Trim(field, `"'`)
				if err := os.WriteFile(file, []byte("stand-in key\n"), 0o600); err != nil {
					return "", err
				}
			}
		}
	}
	file := filepath.Join(scratch, "config.yaml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		return "", err
	}
	cmd := exec.Command(server, "--check-config", "--config", file)
	cmd.Env = append(os.Environ(), containerEnv(objects)...)
	out, err := cmd.CombinedOutput()
	result := strings.ReplaceAll(strings.TrimSpace(string(out)), scratch, "")
	if err != nil {
		return "", fmt.Errorf("%s --check-config: %v: %s", server, err, result)
	}
	return result, nil
}
