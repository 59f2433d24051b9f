package controller

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kfake"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"xinfang.io/operator/api/v1alpha1"
	"xinfang.io/operator/internal/render"
)

// scramTopics lists the topics that exist, asked with SCRAM-SHA-512
// credentials (the broker refuses anyone else).
func scramTopics(t *testing.T, brokers []string, user, pass string, topics []string) map[string]bool {
	t.Helper()
	mech, err := scram.Mechanism(scram.SHA512, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr := &kafka.Transport{SASL: mech}
	defer tr.CloseIdleConnections()
	resp, err := (&kafka.Client{Addr: kafka.TCP(brokers...), Transport: tr}).Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		t.Fatalf("metadata with SCRAM: %v", err)
	}
	out := map[string]bool{}
	for _, tp := range resp.Topics {
		if tp.Error == nil {
			out[tp.Name] = true
		}
	}
	return out
}

// A County whose Kafka needs SASL: the operator's own admin client creates
// the topics with the credentials of the County's Secret, and the services
// get them from a copy of that Secret in the county's namespace — mounted
// files and key references, no value in the Deployments. New credentials
// (here another user) reach the copy, and the pod template's version
// annotation rolls the pods.
func TestKafkaCredentialsReachTheServices(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-512", "anji", "s3cret"), kfake.Superuser("SCRAM-SHA-512", "anji2", "n3w"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	sasl := kc.ListenAddrs()

	src := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: "sasl-kafka"},
		Data: map[string][]byte{KafkaSecretMechanism: []byte("SCRAM-SHA-512"), KafkaSecretUsername: []byte("anji"),
			KafkaSecretPassword: []byte("s3cret"), "unrelated": []byte("stays out")},
	}
	if err := k8s.Create(ctx, src); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx, src) })
	s := sample(t, "sasl")
	s.Spec.Kafka.BootstrapServers = sasl
	s.Spec.Kafka.SecretRef = &corev1.LocalObjectReference{Name: src.Name}
	c := createCounty(t, s)
	waitCondition(t, c.Name, CondTopicsReady, metav1.ConditionTrue, ReasonTopicsCreated)
	if got := scramTopics(t, sasl, "anji", "s3cret", TopicNames(c.Name)); len(got) != 5 {
		t.Fatalf("topics on the SASL broker: %v", got)
	}

	ns := render.Namespace(c)
	copyKey := client.ObjectKey{Namespace: ns, Name: render.KafkaCredentialsSecret}
	cp := &corev1.Secret{}
	if err := k8s.Get(ctx, copyKey, cp); err != nil {
		t.Fatalf("the county's copy of its Kafka Secret: %v", err)
	}
	if string(cp.Data[KafkaSecretPassword]) != "s3cret" || string(cp.Data[KafkaSecretUsername]) != "anji" || cp.Data["unrelated"] != nil {
		t.Errorf("copy data %v", cp.Data)
	}
	if ref := metav1.GetControllerOf(cp); ref == nil || ref.UID != c.UID {
		t.Errorf("copy owner %v, want the County", cp.OwnerReferences)
	}
	deployment := func() *appsv1.Deployment {
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "routing"}, d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := deployment()
	env := map[string]corev1.EnvVar{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e
		if e.Value == "s3cret" {
			t.Errorf("the password is in the Deployment as %s", e.Name)
		}
	}
	if ref := env["XINFANG_KAFKA_SASL_USERNAME"].ValueFrom; ref == nil || ref.SecretKeyRef.Name != render.KafkaCredentialsSecret || ref.SecretKeyRef.Key != KafkaSecretUsername {
		t.Errorf("XINFANG_KAFKA_SASL_USERNAME: %+v", env["XINFANG_KAFKA_SASL_USERNAME"])
	}
	if env["XINFANG_KAFKA_SASL_PASSWORD_FILE"].Value != render.KafkaCredentialsDir+"/"+KafkaSecretPassword {
		t.Errorf("XINFANG_KAFKA_SASL_PASSWORD_FILE: %+v", env["XINFANG_KAFKA_SASL_PASSWORD_FILE"])
	}
	if _, tls := env["XINFANG_KAFKA_TLS"]; tls {
		t.Error("TLS turned on for a SASL-only Secret")
	}
	if v := d.Spec.Template.Annotations[render.AnnotationKafkaCredentials]; v != cp.ResourceVersion {
		t.Errorf("pod template credentials version %q, copy resourceVersion %s", v, cp.ResourceVersion)
	}

	// New credentials: another user. The Secret is read again with the next
	// generation (or after --topic-resync).
	src.Data[KafkaSecretUsername], src.Data[KafkaSecretPassword] = []byte("anji2"), []byte("n3w")
	if err := k8s.Update(ctx, src); err != nil {
		t.Fatal(err)
	}
	updateCounty(t, c.Name, func(c *v1alpha1.County) { c.Spec.Departments[0].Name = "安吉县人民来访接待中心" })
	eventually(t, "the copy and the pod template follow the new credentials", func() error {
		if err := k8s.Get(ctx, copyKey, cp); err != nil {
			return err
		}
		if string(cp.Data[KafkaSecretUsername]) != "anji2" {
			return fmt.Errorf("copy user %s", cp.Data[KafkaSecretUsername])
		}
		if v := deployment().Spec.Template.Annotations[render.AnnotationKafkaCredentials]; v != cp.ResourceVersion {
			return fmt.Errorf("pod template version %s, copy %s", v, cp.ResourceVersion)
		}
		return nil
	})
	waitCondition(t, c.Name, CondTopicsReady, metav1.ConditionTrue, ReasonTopicsCreated)

	// No Secret any more: the copy goes, the Deployments lose the settings.
	updateCounty(t, c.Name, func(c *v1alpha1.County) { c.Spec.Kafka.SecretRef = nil })
	eventually(t, "the copy removed", func() error {
		if exists(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.KafkaCredentialsSecret}}) {
			return fmt.Errorf("still there")
		}
		for _, e := range deployment().Spec.Template.Spec.Containers[0].Env {
			if e.Name == "XINFANG_KAFKA_SASL_MECHANISM" {
				return fmt.Errorf("deployment still has %s", e.Name)
			}
		}
		return nil
	})
}
