package metrics

import "github.com/prometheus/client_golang/prometheus"

// AWS is the metrics of the AWS API calls the process makes (ECS, Auto Scaling, CloudWatch
// Logs, SQS, EC2, ...), one count per attempt: the SDK's retries are attempts too, so that
// throttling shows however well the retries hide it. cmd/hashike feeds it from an SDK
// middleware (this package imports no AWS code).
type AWS struct {
	calls     *prometheus.CounterVec
	errors    *prometheus.CounterVec
	throttles *prometheus.CounterVec
}

// NewAWS makes the AWS API metrics and registers them on reg.
func NewAWS(reg prometheus.Registerer) *AWS {
	m := &AWS{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "aws_api_attempts_total",
			Help: "Attempts of AWS API calls (each retry of the SDK is one), by service and operation.",
		}, []string{"service", "operation"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "aws_api_errors_total",
			Help: "Attempts of AWS API calls that failed, by service, operation and AWS error code (network: no answer).",
		}, []string{"service", "operation", "code"}),
		throttles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "aws_api_throttles_total",
			Help: "Attempts of AWS API calls that AWS throttled (rate exceeded), by service and operation.",
		}, []string{"service", "operation"}),
	}
	reg.MustRegister(m.calls, m.errors, m.throttles)
	return m
}

// ObserveAttempt counts one attempt of operation of service: code is its error's AWS error
// code ("" when it succeeded; "network" when no answer came), throttled whether AWS
// throttled it.
func (m *AWS) ObserveAttempt(service, operation, code string, throttled bool) {
	m.calls.WithLabelValues(service, operation).Inc()
	if code != "" {
		m.errors.WithLabelValues(service, operation, code).Inc()
	}
	if throttled {
		m.throttles.WithLabelValues(service, operation).Inc()
	}
}
