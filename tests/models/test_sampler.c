// Sampling: greedy picks the first maximum; top-k 1 is greedy; draws follow softmax(logits/T)
// restricted by top-k / top-p (frequencies over many draws against hand-computed probabilities).
#include <math.h>

#include "arwkv.h"
#include "test_util.h"

static void freq(float temp, int32_t top_k, float top_p, const double *want, const char *label) {
    const float logits[4] = {1.0f, 2.0f, 0.0f, 2.0f - (float)log(2.0)};
    arwkv_sampler *sp;
    CHECK(arwkv_sampler_init(&sp, 4, temp, top_k, top_p, 42) == 0);
    int n = 200000, count[4] = {0};
    for (int i = 0; i < n; i++) count[arwkv_sampler_sample(sp, logits)]++;
    double worst = 0;
    for (int v = 0; v < 4; v++) {
        double got = (double)count[v] / n, sd = sqrt(want[v] * (1 - want[v]) / n);
        // a certain or impossible outcome must be drawn always / never
        double z = sd > 0 ? fabs(got - want[v]) / sd : (got == want[v] ? 0 : 1e9);
        if (z > worst) worst = z;
    }
    printf("%-22s worst deviation %.2f sd\n", label, worst);
    CHECK(worst < 5.0, "%s: frequencies off by %.1f standard deviations", label, worst);
    arwkv_sampler_free(sp);
}

int main(void) {
    // e^1, e^2, e^0, e^2/2 normalised
    double z = exp(1) + exp(2) + 1 + exp(2) / 2;
    double full[4] = {exp(1) / z, exp(2) / z, 1 / z, exp(2) / 2 / z};
    freq(1.0f, 0, 1.0f, full, "temperature 1");
    // top-k 2 keeps ids 1 and 3: weights e^2 and e^2/2
    double k2[4] = {0, 2.0 / 3, 0, 1.0 / 3};
    freq(1.0f, 2, 1.0f, k2, "top-k 2");
    // id 1 alone holds 0.499 of the mass: top-p 0.4 keeps it alone, top-p 0.6 adds id 3
    double p4[4] = {0, 1, 0, 0};
    freq(1.0f, 0, 0.4f, p4, "top-p 0.4");
    freq(1.0f, 0, 0.6f, k2, "top-p 0.6");
    // temperature 2: logits halved
    double z2 = exp(0.5) + exp(1) + 1 + exp(1) / sqrt(2);
    double t2[4] = {exp(0.5) / z2, exp(1) / z2, 1 / z2, exp(1) / sqrt(2) / z2};
    freq(2.0f, 0, 1.0f, t2, "temperature 2");

    const float tie[3] = {0.5f, 3.0f, 3.0f};
    arwkv_sampler *g;
    CHECK(arwkv_sampler_init(&g, 3, 0.0f, 0, 1.0f, 1) == 0);
    CHECK(arwkv_sampler_sample(g, tie) == 1, "greedy takes the first maximum");
    arwkv_sampler_free(g);
    CHECK(arwkv_sampler_init(&g, 3, 1.0f, 0, 1.5f, 1) != 0, "top-p above 1 is refused");
    return test_summary();
}
