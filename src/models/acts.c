// The activation table of a model pass: one layout for training (every layer's activations kept
// for the backward) and inference (one shared set of chunk buffers).
#include "models/model.h"

enum { N_LAYER_FIELDS = 36 };

static void fields_of(model_acts *a, float ***fields[N_LAYER_FIELDS]) {
    float ***f[N_LAYER_FIELDS] = {
        &a->rstd1, &a->rstd2, &a->xn, &a->f, &a->ffg, &a->ffu, &a->ffh, &a->q, &a->k, &a->v, &a->att, &a->ao,
        &a->xmix, &a->r, &a->k0, &a->kf, &a->v0, &a->vf, &a->wmid, &a->wz, &a->wd, &a->vmid, &a->vz, &a->amid,
        &a->a, &a->gmid, &a->g, &a->kk, &a->alpha, &a->beta, &a->ckpt, &a->ow, &a->gnm, &a->gnr, &a->og, &a->ob};
    memcpy(fields, f, sizeof f);
}

int model_acts_init(model_acts *a, const arwkv_config *c) {
    memset(a, 0, sizeof *a);
    size_t L = (size_t)c->n_layer;
    a->table = calloc(N_LAYER_FIELDS * L + 2 * L + 1, sizeof *a->table);
    if (!a->table) return arwkv_set_error("out of memory for the activation table of %zu layers", L);
    a->x = a->table;
    float ***fields[N_LAYER_FIELDS];
    fields_of(a, fields);
    for (size_t i = 0; i < N_LAYER_FIELDS; i++) *fields[i] = a->table + 2 * L + 1 + i * L;
    return 0;
}

void model_acts_free(model_acts *a) {
    free(a->table);
    memset(a, 0, sizeof *a);
}

size_t model_acts_layout(model_acts *a, const arwkv_config *c, int B, int T, int K, int per_layer, char *base) {
    size_t BT = (size_t)B * T, D = c->n_embd, F = c->n_ff, L = c->n_layer;
    size_t qd = (size_t)c->n_head * c->head_dim, kvd = (size_t)c->n_kv_head * c->head_dim;
    size_t H = c->n_head, N = c->head_dim, nck = K > 0 ? (size_t)(T + K - 1) / K : 0;
    int student = c->arch == ARWKV_ARCH_RWKV_HYBRID;
    model_layout ly = {base, 0};
    // inference: one residual stream updated in place; training: 2L+1 kept
    for (size_t i = 0; i < 2 * L + 1; i++) a->x[i] = per_layer || i == 0 ? model_layout_take(&ly, BT * D) : a->x[0];
    for (size_t l = 0; l < L; l++) {
        if (!per_layer && l > 0) {
            float ***fields[N_LAYER_FIELDS];
            fields_of(a, fields);
            for (int i = 0; i < N_LAYER_FIELDS; i++) (*fields[i])[l] = (*fields[i])[0];
            continue;
        }
        a->rstd1[l] = per_layer ? model_layout_take(&ly, BT) : NULL;
        a->rstd2[l] = per_layer ? model_layout_take(&ly, BT) : NULL;
        a->xn[l] = model_layout_take(&ly, BT * D);
        a->f[l] = per_layer ? model_layout_take(&ly, BT * D) : a->xn[l];
        a->ffg[l] = model_layout_take(&ly, BT * F);
        a->ffu[l] = model_layout_take(&ly, BT * F);
        a->ffh[l] = per_layer ? model_layout_take(&ly, BT * F) : a->ffg[l];   // swiglu runs in place
        if (!student) {
            a->q[l] = model_layout_take(&ly, BT * qd);
            a->k[l] = model_layout_take(&ly, BT * kvd);
            a->v[l] = model_layout_take(&ly, BT * kvd);
            a->att[l] = per_layer ? model_layout_take(&ly, (size_t)B * H * T * T) : NULL;
            a->ao[l] = model_layout_take(&ly, BT * qd);
            continue;
        }
        a->xmix[l] = model_layout_take(&ly, (c->has_gate ? 6 : 5) * BT * D);
        float **full[] = {a->r, a->k0, a->kf, a->v0, a->vf, a->wz, a->wd, a->vz, a->a,
                          a->kk, a->alpha, a->beta, a->ow, a->ob};
        for (size_t j = 0; j < sizeof full / sizeof full[0]; j++) full[j][l] = model_layout_take(&ly, BT * D);
        a->wmid[l] = model_layout_take(&ly, BT * c->lora_w);
        a->vmid[l] = model_layout_take(&ly, BT * c->lora_v);
        a->amid[l] = model_layout_take(&ly, BT * c->lora_a);
        a->ckpt[l] = per_layer ? model_layout_take(&ly, (size_t)B * nck * H * N * N) : NULL;
        if (c->has_gate) {
            a->gmid[l] = model_layout_take(&ly, BT * c->lora_g);
            a->g[l] = model_layout_take(&ly, BT * D);
            a->og[l] = model_layout_take(&ly, BT * D);
        }
        if (c->has_group_norm) {
            a->gnm[l] = model_layout_take(&ly, BT * H);
            a->gnr[l] = model_layout_take(&ly, BT * H);
        }
    }
    a->vfirst = student ? model_layout_take(&ly, BT * D) : NULL;
    a->rstdf = per_layer ? model_layout_take(&ly, BT) : NULL;
    a->xnf = model_layout_take(&ly, BT * D);
    a->tmp = model_layout_take(&ly, BT * D);
    a->zero_shift = student && per_layer ? model_layout_take(&ly, (size_t)B * D) : NULL;
    a->state = student && per_layer ? model_layout_take(&ly, (size_t)B * H * N * N) : NULL;
    a->ids = (int32_t *)model_layout_take(&ly, BT);
    return ly.used;
}
