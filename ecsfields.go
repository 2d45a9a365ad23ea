package hashike

import (
	"reflect"
	"strings"
	"sync"
)

// The field names ECS accepts that hashike keeps verbatim in an Extra map rather than
// modelling. A definition file's decoder puts these into Extra; any other unknown name is an
// error. A backend's Check says which of them it honours, ignores (a warning) or refuses.
var (
	ECSTaskDefinitionExtraFields = []string{
		"placementConstraints", "pidMode", "ipcMode", "proxyConfiguration",
		"inferenceAccelerators", "ephemeralStorage", "runtimePlatform", "enableFaultInjection",
		// DescribeTaskDefinition output, present in exported files such as ecspresso's.
		"taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
		"registeredAt", "registeredBy", "deregisteredAt",
	}
	ECSContainerDefinitionExtraFields = []string{
		"repositoryCredentials", "links", "portMappings", "restartPolicy", "environmentFiles",
		"volumesFrom", "linuxParameters", "versionConsistency", "hostname", "disableNetworking",
		"privileged", "dnsServers", "dnsSearchDomains", "extraHosts", "dockerSecurityOptions",
		"interactive", "pseudoTerminal", "systemControls", "resourceRequirements",
		"firelensConfiguration", "credentialSpecs",
	}
	ECSVolumeExtraFields = []string{
		"efsVolumeConfiguration", "fsxWindowsFileServerVolumeConfiguration", "configuredAtLaunch",
	}
)

var fieldNamesCache sync.Map // reflect.Type -> map[string]bool

// jsonFieldNames returns the JSON names of v's struct fields (v a struct or pointer to one).
func jsonFieldNames(v any) map[string]bool {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if m, ok := fieldNamesCache.Load(t); ok {
		return m.(map[string]bool)
	}
	m := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			m[name] = true
		}
	}
	fieldNamesCache.Store(t, m)
	return m
}
