// Checks of rendered manifests: each document parses as YAML and has the
// fields the Kubernetes API requires of its kind, and the objects refer to
// each other by names and ports that exist (the Service's selector and
// target ports, volumes and mounts, the HPA's target, ...).
package main

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/ghodss/yaml"
)

// Object is one rendered Kubernetes object.
type Object struct {
	Source string // the template it came from
	Kind   string
	Name   string
	Body   map[string]interface{}
}

// The kinds the chart may render and their API versions.
var knownKinds = map[string]string{
	"ConfigMap": "v1", "Secret": "v1", "Service": "v1", "ServiceAccount": "v1",
	"Deployment": "apps/v1", "HorizontalPodAutoscaler": "autoscaling/v2",
	"PodDisruptionBudget": "policy/v1", "ServiceMonitor": "monitoring.coreos.com/v1",
}

var (
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	labelValue   = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
	portName     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
)

// ParseManifests splits each template's output into YAML documents ("---"
// lines) and parses them; a document with only comments is skipped.
func ParseManifests(rendered map[string]string) ([]Object, []string) {
	var objects []Object
	var problems []string
	names := make([]string, 0, len(rendered))
	for n := range rendered {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, source := range names {
		for i, doc := range regexp.MustCompile(`(?m)^---[ \t]*$`).Split(rendered[source], -1) {
			body := map[string]interface{}{}
			if err := yaml.Unmarshal([]byte(doc), &body); err != nil {
				problems = append(problems, fmt.Sprintf("%s: document %d: not YAML: %v", source, i+1, err))
				continue
			}
			if len(body) == 0 {
				continue
			}
			o := Object{Source: source, Body: body}
			o.Kind, _ = body["kind"].(string)
			o.Name, _ = get(body, "metadata", "name").(string)
			objects = append(objects, o)
		}
	}
	return objects, problems
}

// get follows keys through nested maps; nil when one is missing.
func get(v interface{}, keys ...string) interface{} {
	for _, k := range keys {
		m, ok := v.(map[string]interface{})
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func list(v interface{}) []interface{} { l, _ := v.([]interface{}); return l }

func stringMap(v interface{}) (map[string]string, bool) {
	m, ok := v.(map[string]interface{})
	if !ok {
		return nil, false
	}
	out := map[string]string{}
	for k, e := range m {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out[k] = s
	}
	return out, true
}

// subset: every entry of `sel` is in `labels`, and sel is not empty.
func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

// checker gathers the problems of a set of objects.
type checker struct {
	objects  []Object
	problems []string
}

func (c *checker) addf(o Object, format string, args ...interface{}) {
	c.problems = append(c.problems, fmt.Sprintf("%s: %s %s: %s", o.Source, o.Kind, o.Name,
		fmt.Sprintf(format, args...)))
}

func (c *checker) find(kind, name string) *Object {
	for i := range c.objects {
		if c.objects[i].Kind == kind && c.objects[i].Name == name {
			return &c.objects[i]
		}
	}
	return nil
}

func (c *checker) ofKind(kind string) []Object {
	var out []Object
	for _, o := range c.objects {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// CheckManifests returns the problems of the rendered objects.
func CheckManifests(objects []Object) []string {
	c := &checker{objects: objects}
	seen := map[string]bool{}
	for _, o := range objects {
		c.checkCommon(o)
		key := o.Kind + "/" + o.Name
		if seen[key] {
			c.addf(o, "defined twice")
		}
		seen[key] = true
		switch o.Kind {
		case "Deployment":
			c.checkDeployment(o)
		case "Service":
			c.checkService(o)
		case "ConfigMap":
			if _, ok := stringMap(o.Body["data"]); !ok {
				c.addf(o, "data must map names to strings")
			}
		case "Secret":
			if _, ok := stringMap(o.Body["stringData"]); !ok && o.Body["data"] == nil {
				c.addf(o, "stringData must map names to strings")
			}
		case "HorizontalPodAutoscaler":
			c.checkHPA(o)
		case "PodDisruptionBudget":
			c.checkSelects(o, get(o.Body, "spec", "selector", "matchLabels"))
		case "ServiceMonitor":
			c.checkServiceMonitor(o)
		}
	}
	return c.problems
}

func (c *checker) checkCommon(o Object) {
	api, _ := o.Body["apiVersion"].(string)
	want, known := knownKinds[o.Kind]
	switch {
	case o.Kind == "":
		c.addf(o, "no kind")
	case !known:
		c.addf(o, "kind %q is not one the chart renders", o.Kind)
	case api != want:
		c.addf(o, "apiVersion %q, expected %q", api, want)
	}
	if o.Name == "" {
		c.addf(o, "no metadata.name")
	} else if len(o.Name) > 253 || !dnsSubdomain.MatchString(o.Name) {
		c.addf(o, "metadata.name is not a DNS subdomain")
	} else if o.Kind == "Service" && (len(o.Name) > 63 || !dnsLabel.MatchString(o.Name)) {
		c.addf(o, "a Service's name must be a DNS label (63 characters)")
	}
	if labels := get(o.Body, "metadata", "labels"); labels != nil {
		m, ok := stringMap(labels)
		if !ok {
			c.addf(o, "metadata.labels must map names to strings")
		}
		for k, v := range m {
			if len(v) > 63 || !labelValue.MatchString(v) {
				c.addf(o, "label %s: %q is not a valid label value", k, v)
			}
		}
	}
	if _, ok := o.Body["spec"]; !ok && (o.Kind == "Deployment" || o.Kind == "Service" ||
		o.Kind == "HorizontalPodAutoscaler" || o.Kind == "PodDisruptionBudget" ||
		o.Kind == "ServiceMonitor") {
		c.addf(o, "no spec")
	}
}

// The pod labels of the chart's Deployment (there is one).
func (c *checker) podLabels() map[string]string {
	for _, d := range c.ofKind("Deployment") {
		m, _ := stringMap(get(d.Body, "spec", "template", "metadata", "labels"))
		return m
	}
	return nil
}

// checkSelects: a selector that picks the Deployment's pods.
func (c *checker) checkSelects(o Object, selector interface{}) {
	sel, ok := stringMap(selector)
	if !ok || !subset(sel, c.podLabels()) {
		c.addf(o, "the selector %v does not select the Deployment's pods", selector)
	}
}

func (c *checker) checkDeployment(o Object) {
	spec := get(o.Body, "spec")
	sel, ok := stringMap(get(spec, "selector", "matchLabels"))
	pod, _ := stringMap(get(spec, "template", "metadata", "labels"))
	if !ok || !subset(sel, pod) {
		c.addf(o, "spec.selector.matchLabels must be among the pod template's labels")
	}
	podSpec := get(spec, "template", "spec")
	volumes := map[string]map[string]interface{}{}
	for _, v := range list(get(podSpec, "volumes")) {
		name, _ := get(v, "name").(string)
		vm, _ := v.(map[string]interface{})
		if name == "" || len(vm) != 2 {
			c.addf(o, "volume %v: needs a name and exactly one source", v)
			continue
		}
		volumes[name] = vm
		if cm, ok := get(v, "configMap", "name").(string); ok && c.find("ConfigMap", cm) == nil {
			c.addf(o, "volume %s: no ConfigMap %s is rendered", name, cm)
		}
	}
	if sa, ok := get(podSpec, "serviceAccountName").(string); ok && len(c.ofKind("ServiceAccount")) > 0 &&
		c.find("ServiceAccount", sa) == nil {
		c.addf(o, "serviceAccountName %s: no such ServiceAccount is rendered", sa)
	}
	containers := list(get(podSpec, "containers"))
	if len(containers) == 0 {
		c.addf(o, "no containers")
	}
	for _, ct := range containers {
		name, _ := get(ct, "name").(string)
		if image, _ := get(ct, "image").(string); name == "" || image == "" {
			c.addf(o, "a container needs a name and an image")
		}
		ports := map[string]bool{}
		for _, p := range list(get(ct, "ports")) {
			pn, _ := get(p, "name").(string)
			n, isNum := get(p, "containerPort").(float64)
			if !isNum || n < 1 || n > 65535 || n != float64(int(n)) {
				c.addf(o, "container %s: containerPort %v is not a port", name, get(p, "containerPort"))
			}
			if len(pn) > 15 || !portName.MatchString(pn) || ports[pn] {
				c.addf(o, "container %s: port name %q is not a unique IANA service name", name, pn)
			}
			ports[pn] = true
		}
		for _, m := range list(get(ct, "volumeMounts")) {
			vn, _ := get(m, "name").(string)
			mp, _ := get(m, "mountPath").(string)
			if volumes[vn] == nil || !strings.HasPrefix(mp, "/") {
				c.addf(o, "container %s: mount %v: no volume %q or no absolute mountPath", name, m, vn)
			}
		}
		for _, e := range list(get(ct, "env")) {
			if n, _ := get(e, "name").(string); n == "" {
				c.addf(o, "container %s: an env entry without a name", name)
			}
		}
		for _, probe := range []string{"startupProbe", "livenessProbe", "readinessProbe"} {
			if p := get(ct, probe); p != nil {
				if n, ok := get(p, "grpc", "port").(float64); !ok || n < 1 || n > 65535 {
					c.addf(o, "container %s: %s.grpc.port %v is not a port", name, probe, get(p, "grpc", "port"))
				}
			}
		}
	}
}

// The named container ports of the Deployment's containers.
func (c *checker) containerPortNames() map[string]bool {
	out := map[string]bool{}
	for _, d := range c.ofKind("Deployment") {
		for _, ct := range list(get(d.Body, "spec", "template", "spec", "containers")) {
			for _, p := range list(get(ct, "ports")) {
				if n, ok := get(p, "name").(string); ok {
					out[n] = true
				}
			}
		}
	}
	return out
}

func (c *checker) checkService(o Object) {
	c.checkSelects(o, get(o.Body, "spec", "selector"))
	named := c.containerPortNames()
	ports := list(get(o.Body, "spec", "ports"))
	if len(ports) == 0 {
		c.addf(o, "no ports")
	}
	for _, p := range ports {
		if n, ok := get(p, "port").(float64); !ok || n < 1 || n > 65535 {
			c.addf(o, "port %v is not a port", get(p, "port"))
		}
		if tp, ok := get(p, "targetPort").(string); ok && !named[tp] {
			c.addf(o, "targetPort %q names no container port", tp)
		}
	}
}

func (c *checker) checkHPA(o Object) {
	target := get(o.Body, "spec", "scaleTargetRef")
	kind, _ := get(target, "kind").(string)
	name, _ := get(target, "name").(string)
	if c.find(kind, name) == nil {
		c.addf(o, "scaleTargetRef %s/%s is not rendered", kind, name)
	}
	lo, _ := get(o.Body, "spec", "minReplicas").(float64)
	hi, ok := get(o.Body, "spec", "maxReplicas").(float64)
	if !ok || lo < 1 || hi < lo {
		c.addf(o, "needs 1 <= minReplicas <= maxReplicas")
	}
	if len(list(get(o.Body, "spec", "metrics"))) == 0 {
		c.addf(o, "no metrics")
	}
	for _, d := range c.ofKind("Deployment") {
		if d.Name == name && get(d.Body, "spec", "replicas") != nil {
			c.addf(o, "the Deployment sets replicas too (the HPA's to set)")
		}
	}
}

func (c *checker) checkServiceMonitor(o Object) {
	sel, _ := stringMap(get(o.Body, "spec", "selector", "matchLabels"))
	servicePorts := map[string]bool{}
	selected := false
	for _, s := range c.ofKind("Service") {
		labels, _ := stringMap(get(s.Body, "metadata", "labels"))
		if subset(sel, labels) {
			selected = true
			for _, p := range list(get(s.Body, "spec", "ports")) {
				if n, ok := get(p, "name").(string); ok {
					servicePorts[n] = true
				}
			}
		}
	}
	if !selected {
		c.addf(o, "the selector picks no rendered Service")
	}
	endpoints := list(get(o.Body, "spec", "endpoints"))
	if len(endpoints) == 0 {
		c.addf(o, "no endpoints")
	}
	for _, e := range endpoints {
		if p, _ := get(e, "port").(string); !servicePorts[p] {
			c.addf(o, "endpoint port %q is no port of the selected Service", p)
		}
	}
}
