package render

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"xinfang.io/operator/api/v1alpha1"
)

// The County's Kafka credentials (spec.kafka.secretRef names a Secret in the
// operator's namespace, which pods of the county cannot read) are copied by
// the operator into the county's namespace as KafkaCredentialsSecret, with
// the same keys; the services get them as files of its mount and secret-key
// references, so no value ever appears in a pod spec or in the county file.
const (
	// KafkaCredentialsSecret is the county's copy of its Kafka Secret.
	KafkaCredentialsSecret = "kafka-credentials"
	// KafkaCredentialsDir is where the services find its keys as files.
	KafkaCredentialsDir = "/etc/xinfang-kafka"
	// AnnotationKafkaCredentials, on the pod template, is the version of the
	// copy the pods started with: the services read the credentials at
	// start, so new credentials roll the pods.
	AnnotationKafkaCredentials = "xinfang.io/kafka-credentials-version"

	// Keys of the Secret (see the operator's controller.KafkaSecret*).
	kafkaKeyCA        = "ca.crt"
	kafkaKeyCert      = "tls.crt"
	kafkaKeyKey       = "tls.key"
	kafkaKeyMechanism = "sasl.mechanism"
	kafkaKeyUsername  = "sasl.username"
	kafkaKeyPassword  = "sasl.password"

	kafkaVolume = "kafka-credentials"
)

// KafkaCredentials is what the County's Kafka Secret holds — which parts,
// never their values — and the version of its copy.
type KafkaCredentials struct {
	// TLS: connect over TLS ("tls": "true", or a CA or client certificate).
	TLS bool
	// CA: a CA bundle (ca.crt).
	CA bool
	// ClientCert: a client certificate and key (tls.crt, tls.key).
	ClientCert bool
	// SASL: a mechanism with user name and password (sasl.*).
	SASL bool
	// Version of the county's copy (its resourceVersion), stamped on the pod
	// template.
	Version string
}

// Present reports whether the county has Kafka credentials at all.
func (k KafkaCredentials) Present() bool { return k.TLS || k.SASL }

func (k KafkaCredentials) annotations() map[string]string {
	if !k.Present() {
		return nil
	}
	return map[string]string{AnnotationKafkaCredentials: k.Version}
}

func (k KafkaCredentials) volume() corev1.Volume {
	mode := int32(0o440) // the services' group (fsGroup) reads them
	return corev1.Volume{Name: kafkaVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: KafkaCredentialsSecret, DefaultMode: &mode}}}
}

// kafkaEnv are the services' XINFANG_KAFKA_TLS* and XINFANG_KAFKA_SASL_*
// settings (services/kit/config): file paths in the mount, and the two
// non-secret SASL names as references to the Secret's keys.
func kafkaEnv(k KafkaCredentials) []corev1.EnvVar {
	var e []corev1.EnvVar
	file := func(key string) string { return KafkaCredentialsDir + "/" + key }
	ref := func(key string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: KafkaCredentialsSecret}, Key: key}}
	}
	if k.TLS {
		e = append(e, corev1.EnvVar{Name: "XINFANG_KAFKA_TLS", Value: "true"})
	}
	if k.CA {
		e = append(e, corev1.EnvVar{Name: "XINFANG_KAFKA_TLS_CA_FILE", Value: file(kafkaKeyCA)})
	}
	if k.ClientCert {
		e = append(e, corev1.EnvVar{Name: "XINFANG_KAFKA_TLS_CERT_FILE", Value: file(kafkaKeyCert)},
			corev1.EnvVar{Name: "XINFANG_KAFKA_TLS_KEY_FILE", Value: file(kafkaKeyKey)})
	}
	if k.SASL {
		e = append(e, corev1.EnvVar{Name: "XINFANG_KAFKA_SASL_MECHANISM", ValueFrom: ref(kafkaKeyMechanism)},
			corev1.EnvVar{Name: "XINFANG_KAFKA_SASL_USERNAME", ValueFrom: ref(kafkaKeyUsername)},
			corev1.EnvVar{Name: "XINFANG_KAFKA_SASL_PASSWORD_FILE", Value: file(kafkaKeyPassword)})
	}
	return e
}

// KafkaCredentialsCopy is the county's copy of its Kafka Secret, with data
// (the keys the operator knows, as read from the County's Secret).
func KafkaCredentialsCopy(c *v1alpha1.County, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: KafkaCredentialsSecret, Namespace: Namespace(c), Labels: labels(c, "")},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
}
