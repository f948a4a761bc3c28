package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A consistent set of objects; each case below breaks one thing.
const goodManifests = `apiVersion: v1
kind: ConfigMap
metadata:
  name: app
data:
  config.yaml: |
    listen: "0.0.0.0:50051"
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: app
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  labels:
    app: app
spec:
  selector:
    matchLabels:
      app: app
  template:
    metadata:
      labels:
        app: app
        tier: serve
    spec:
      serviceAccountName: app
      containers:
        - name: server
          image: "img:1"
          env:
            - name: PLAIN
              value: "1"
            - name: FROM_SECRET
              valueFrom:
                secretKeyRef: {name: s, key: k}
          ports:
            - name: grpc
              containerPort: 50051
            - name: metrics
              containerPort: 9464
          readinessProbe:
            grpc:
              port: 50051
          volumeMounts:
            - name: config
              mountPath: /etc/app
            - name: keys
              mountPath: /etc/app/keys
      volumes:
        - name: config
          configMap:
            name: app
        - name: keys
          secret:
            secretName: app-keys
---
apiVersion: v1
kind: Secret
metadata:
  name: app-keys
stringData:
  alice: key-of-alice
---
apiVersion: v1
kind: Service
metadata:
  name: app
  labels:
    app: app
spec:
  selector:
    app: app
  ports:
    - name: grpc
      port: 50051
      targetPort: grpc
    - name: metrics
      port: 9464
      targetPort: metrics
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: app
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: app}
  minReplicas: 1
  maxReplicas: 3
  metrics: [{type: Pods}]
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: app
spec:
  selector:
    matchLabels:
      app: app
  endpoints:
    - port: metrics
`

func check(manifests string) []string {
	objects, problems := ParseManifests(map[string]string{"t.yaml": manifests})
	return append(problems, CheckManifests(objects)...)
}

func TestGoodManifestsPass(t *testing.T) {
	if p := check(goodManifests); len(p) != 0 {
		t.Errorf("problems: %q", p)
	}
}

func TestEachBrokenFieldIsReported(t *testing.T) {
	for _, c := range []struct{ from, to, want string }{
		{"kind: ServiceAccount", "kind: Serviceaccount", `kind "Serviceaccount" is not one`},
		{"apiVersion: autoscaling/v2", "apiVersion: autoscaling/v1", `apiVersion "autoscaling/v1", expected "autoscaling/v2"`},
		{"  name: app-keys", "  name: App_Keys", "metadata.name is not a DNS subdomain"},
		{"kind: ServiceAccount\nmetadata:\n  name: app", "kind: ServiceAccount\nmetadata:\n  labels: {}", "no metadata.name"},
		{"  labels:\n    app: app\nspec:\n  selector:\n    matchLabels", "  labels:\n    app: 7\nspec:\n  selector:\n    matchLabels", "metadata.labels must map names to strings"},
		{"    matchLabels:\n      app: app\n  template", "    matchLabels:\n      app: other\n  template", "spec.selector.matchLabels must be among"},
		{"          image: \"img:1\"", "          image: \"\"", "a container needs a name and an image"},
		{"containerPort: 9464", "containerPort: 70000", "containerPort 70000 is not a port"},
		{"- name: metrics\n              containerPort", "- name: grpc\n              containerPort", `port name "grpc" is not a unique`},
		{"            - name: keys\n              mountPath", "            - name: kyes\n              mountPath", `no volume "kyes"`},
		{"            - name: PLAIN", "            - value: PLAIN", "an env entry without a name"},
		{"          grpc:\n              port: 50051", "          grpc:\n              port: grpc", "readinessProbe.grpc.port grpc is not a port"},
		{"            name: app\n        - name: keys", "            name: nope\n        - name: keys", "volume config: no ConfigMap nope"},
		{"serviceAccountName: app", "serviceAccountName: other", "serviceAccountName other"},
		{"  config.yaml: |\n    listen: \"0.0.0.0:50051\"", "  port: 5", "data must map names to strings"},
		{"  selector:\n    app: app\n  ports", "  selector:\n    app: nope\n  ports", "does not select the Deployment's pods"},
		{"targetPort: metrics", "targetPort: metric", `targetPort "metric" names no container port`},
		{"kind: Deployment, name: app}", "kind: Deployment, name: ap}", "scaleTargetRef Deployment/ap is not rendered"},
		{"maxReplicas: 3", "maxReplicas: 0", "needs 1 <= minReplicas <= maxReplicas"},
		{"    - port: metrics\n", "    - port: http\n", `endpoint port "http" is no port`},
		{"kind: Secret\nmetadata:\n  name: app-keys\n", "kind: Secret\nmetadata:\n  name: app\n", ""},
	} {
		broken := strings.Replace(goodManifests, c.from, c.to, 1)
		if broken == goodManifests {
			t.Fatalf("%q is not in the manifests", c.from)
		}
		p := strings.Join(check(broken), "\n")
		if c.want == "" {
			continue // a change that breaks nothing (a rename of an unreferenced name)
		}
		if !strings.Contains(p, c.want) {
			t.Errorf("%q -> %q: want %q among:\n%s", c.from, c.to, c.want, p)
		}
	}
	if p := strings.Join(check(goodManifests+"---\n"+goodManifests[:strings.Index(goodManifests, "---")]), "\n"); !strings.Contains(p, "defined twice") {
		t.Errorf("a duplicate object: %s", p)
	}
	if p := strings.Join(check("a: [1\n"), "\n"); !strings.Contains(p, "document 1: not YAML") {
		t.Errorf("broken YAML: %s", p)
	}
	if p := strings.Join(check(strings.Replace(goodManifests, "  replicas", "", 1)+
		"---\n# only a comment\n"), "\n"); p != "" {
		t.Errorf("a comment-only document: %s", p)
	}
}

func TestHPAAndReplicasTogetherIsReported(t *testing.T) {
	p := strings.Join(check(strings.Replace(goodManifests, "spec:\n  selector:\n    matchLabels:\n      app: app\n  template",
		"spec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: app\n  template", 1)), "\n")
	if !strings.Contains(p, "the Deployment sets replicas too") {
		t.Errorf("got %s", p)
	}
}

// A stand-in headroom-server: records its arguments, environment and the
// config and key files it was given, and exits as told.
func fakeServer(t *testing.T, exit string) (string, string) {
	dir := t.TempDir()
	record := filepath.Join(dir, "record")
	script := "#!/bin/sh\nconfig=$3\n{ echo \"$@\"; env | grep -E '^(PLAIN|FROM_SECRET)='; cat \"$config\";" +
		" cat \"$(dirname \"$config\")\"/etc/app/keys/alice; } > " + record + "\necho from-server\nexit " + exit + "\n"
	server := filepath.Join(dir, "server")
	if err := os.WriteFile(server, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return server, record
}

func TestCheckServerConfigGivesTheMountedFiles(t *testing.T) {
	objects, _ := ParseManifests(map[string]string{"t.yaml": goodManifests})
	server, record := fakeServer(t, "0")
	out, err := CheckServerConfig(objects, server, "/etc/app/config.yaml")
	if err != nil || out != "from-server" {
		t.Fatalf("got %q, %v", out, err)
	}
	data, _ := os.ReadFile(record)
	got := string(data)
	for _, want := range []string{"--check-config --config ", "PLAIN=1",
		"FROM_SECRET=stand-in value of FROM_SECRET", "listen: \"0.0.0.0:50051\"", "key-of-alice"} {
		if !strings.Contains(got, want) {
			t.Errorf("want %q in:\n%s", want, got)
		}
	}
	server, _ = fakeServer(t, "2")
	if _, err := CheckServerConfig(objects, server, "/etc/app/config.yaml"); err == nil ||
		!strings.Contains(err.Error(), "from-server") {
		t.Errorf("a refused config: %v", err)
	}
	if _, err := CheckServerConfig(objects, server, "/etc/other/config.yaml"); err == nil ||
		!strings.Contains(err.Error(), "no ConfigMap is mounted at /etc/other/config.yaml") {
		t.Errorf("no config at the path: %v", err)
	}
}
