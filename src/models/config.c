// config.json of both model types: parsing with validation, and writing.
#include "io/json_util.h"
#include "models/model.h"

void config_default_student(arwkv_config *c) {
    c->arch = ARWKV_ARCH_RWKV_HYBRID;
    c->head_dim = 64;
    c->head_size_divisor = 8;
    c->lora_w = 64;
    c->lora_a = 64;
    c->lora_v = 32;
    c->lora_g = 128;
    c->n_head = c->n_kv_head = c->n_embd / 64;
}

static int get_i32(const json_t *o, const char *file, const char *key, int32_t *out, int required) {
    int64_t v = *out;
    if (json_get_int(o, file, key, &v, required)) return -1;
    if (v < -1 || v > INT32_MAX) return arwkv_set_error("%s: field '%s' out of range (%lld)", file, key, (long long)v);
    *out = (int32_t)v;
    return 0;
}

// eos_token_id may be an integer or a list of integers: the first one is used.
static int get_token_id(const json_t *o, const char *file, const char *key, int32_t *out) {
    const json_t *v = json_object_get(o, key);
    if (json_is_array(v) && json_array_size(v) > 0) v = json_array_get(v, 0);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v)) return arwkv_set_error("%s: field '%s' must be an integer", file, key);
    *out = (int32_t)json_integer_value(v);
    return 0;
}

static int check_positive(const char *file, const char *key, int64_t v) {
    return v > 0 ? 0 : arwkv_set_error("%s: field '%s' must be positive, found %lld", file, key, (long long)v);
}

static int config_parse(arwkv_config *c, const json_t *o, const char *file) {
    memset(c, 0, sizeof *c);
    const json_t *arch = json_array_get(json_object_get(o, "architectures"), 0);
    const char *a = json_is_string(arch) ? json_string_value(arch) : NULL;
    const char *mt = json_get_str(o, file, "model_type", 0);
    if ((a && !strcmp(a, "Qwen2ForCausalLM")) || (!a && mt && !strcmp(mt, "qwen2"))) c->arch = ARWKV_ARCH_QWEN2;
    else if ((a && !strcmp(a, "RwkvHybridForCausalLM")) || (!a && mt && !strcmp(mt, "rwkv_hybrid")))
        c->arch = ARWKV_ARCH_RWKV_HYBRID;
    else
        return arwkv_set_error("%s: unsupported architecture '%s' (expected Qwen2ForCausalLM or RwkvHybridForCausalLM)",
                               file, a ? a : mt ? mt : "none given");
    double eps = 1e-6, theta = 1e6;
    int tie = 0, sliding = 0;
    c->max_pos = 32768;
    c->bos_id = c->eos_id = -1;
    if (get_i32(o, file, "hidden_size", &c->n_embd, 1) || get_i32(o, file, "intermediate_size", &c->n_ff, 1) ||
        get_i32(o, file, "num_hidden_layers", &c->n_layer, 1) || get_i32(o, file, "vocab_size", &c->n_vocab, 1) ||
        json_get_float(o, file, "rms_norm_eps", &eps, 0) || json_get_bool(o, file, "tie_word_embeddings", &tie, 0) ||
        get_i32(o, file, "max_position_embeddings", &c->max_pos, 0) ||
        get_token_id(o, file, "bos_token_id", &c->bos_id) || get_token_id(o, file, "eos_token_id", &c->eos_id))
        return -1;
    if (check_positive(file, "hidden_size", c->n_embd) || check_positive(file, "intermediate_size", c->n_ff) ||
        check_positive(file, "num_hidden_layers", c->n_layer) || check_positive(file, "vocab_size", c->n_vocab))
        return -1;
    if (!(eps > 0 && eps < 1)) return arwkv_set_error("%s: field 'rms_norm_eps' must be in (0, 1)", file);
    c->rms_eps = (float)eps;
    c->tie_embeddings = tie;
    c->torch_dtype = ARWKV_F32;
    const char *td = json_get_str(o, file, "torch_dtype", 0);
    if (td && arwkv_dtype_parse(td, &c->torch_dtype)) return arwkv_wrap_error("%s: field 'torch_dtype'", file);

    if (c->arch == ARWKV_ARCH_QWEN2) {
        if (get_i32(o, file, "num_attention_heads", &c->n_head, 1) ||
            get_i32(o, file, "num_key_value_heads", &c->n_kv_head, 0) ||
            json_get_float(o, file, "rope_theta", &theta, 0) || json_get_bool(o, file, "use_sliding_window", &sliding, 0))
            return -1;
        if (!json_field_present(o, "num_key_value_heads")) c->n_kv_head = c->n_head;
        if (sliding) return arwkv_set_error("%s: use_sliding_window is true, which is not supported", file);
        if (check_positive(file, "num_attention_heads", c->n_head) ||
            check_positive(file, "num_key_value_heads", c->n_kv_head))
            return -1;
        if (c->n_embd % c->n_head)
            return arwkv_set_error("%s: hidden_size %d is not a multiple of num_attention_heads %d", file, c->n_embd, c->n_head);
        if (c->n_head % c->n_kv_head)
            return arwkv_set_error("%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", file,
                                   c->n_head, c->n_kv_head);
        c->head_dim = c->n_embd / c->n_head;
        if (c->head_dim % 2) return arwkv_set_error("%s: head dimension %d must be even for RoPE", file, c->head_dim);
        if (!(theta > 0)) return arwkv_set_error("%s: field 'rope_theta' must be positive", file);
        c->rope_theta = (float)theta;
        return 0;
    }
    config_default_student(c);
    c->tie_embeddings = tie;
    if (get_i32(o, file, "head_size", &c->head_dim, 0) || get_i32(o, file, "head_size_divisor", &c->head_size_divisor, 0) ||
        json_get_bool(o, file, "wkv_has_gate", &c->has_gate, 0) ||
        json_get_bool(o, file, "wkv_has_group_norm", &c->has_group_norm, 0))
        return -1;
    int64_t ver = 7;
    if (json_get_int(o, file, "wkv_version", &ver, 0)) return -1;
    if (ver != 7) return arwkv_set_error("%s: wkv_version %lld is not supported (expected 7)", file, (long long)ver);
    if (c->head_dim <= 0 || c->n_embd % c->head_dim)
        return arwkv_set_error("%s: hidden_size %d is not a multiple of head_size %d", file, c->n_embd, c->head_dim);
    c->n_head = c->n_kv_head = c->n_embd / c->head_dim;
    return 0;
}

int config_load(arwkv_config *c, const char *dir) {
    char *path = path_join(dir, "config.json");
    json_t *o = json_file_read(path);
    int rc = -1;
    if (o && !json_is_object(o)) arwkv_set_error("%s: expected a JSON object", path);
    else if (o) rc = config_parse(c, o, path);
    json_decref(o);
    free(path);
    return rc;
}

int config_save(const arwkv_config *c, const char *dir) {
    json_t *o = json_object();
    int qwen = c->arch == ARWKV_ARCH_QWEN2;
    json_object_set_new(o, "architectures", json_pack("[s]", qwen ? "Qwen2ForCausalLM" : "RwkvHybridForCausalLM"));
    json_object_set_new(o, "model_type", json_string(qwen ? "qwen2" : "rwkv_hybrid"));
    json_object_set_new(o, "hidden_size", json_integer(c->n_embd));
    json_object_set_new(o, "intermediate_size", json_integer(c->n_ff));
    json_object_set_new(o, "num_hidden_layers", json_integer(c->n_layer));
    json_object_set_new(o, "vocab_size", json_integer(c->n_vocab));
    json_object_set_new(o, "rms_norm_eps", json_real(c->rms_eps));
    json_object_set_new(o, "tie_word_embeddings", json_boolean(c->tie_embeddings));
    json_object_set_new(o, "max_position_embeddings", json_integer(c->max_pos));
    if (c->bos_id >= 0) json_object_set_new(o, "bos_token_id", json_integer(c->bos_id));
    if (c->eos_id >= 0) json_object_set_new(o, "eos_token_id", json_integer(c->eos_id));
    static const char *td[] = {"float32", "float16", "bfloat16"};
    json_object_set_new(o, "torch_dtype", json_string(td[c->torch_dtype <= ARWKV_BF16 ? c->torch_dtype : 0]));
    json_object_set_new(o, "hidden_act", json_string("silu"));
    if (qwen) {
        json_object_set_new(o, "num_attention_heads", json_integer(c->n_head));
        json_object_set_new(o, "num_key_value_heads", json_integer(c->n_kv_head));
        json_object_set_new(o, "rope_theta", json_real(c->rope_theta));
        json_object_set_new(o, "use_sliding_window", json_false());
    } else {
        // the published checkpoints keep Qwen's attention keys; 64-wide wkv heads replace them
        json_object_set_new(o, "num_attention_heads", json_integer(c->n_head));
        json_object_set_new(o, "num_key_value_heads", json_integer(c->n_head));
        json_object_set_new(o, "head_size", json_integer(c->head_dim));
        json_object_set_new(o, "head_size_divisor", json_integer(c->head_size_divisor));
        json_object_set_new(o, "wkv_version", json_integer(7));
        json_object_set_new(o, "wkv_has_gate", json_boolean(c->has_gate));
        json_object_set_new(o, "wkv_has_group_norm", json_boolean(c->has_group_norm));
    }
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    char *path = path_join(dir, "config.json");
    size_t n = strlen(text);
    text[n] = '\n';   // json_dumps leaves room for the terminator we replace
    int rc = file_write_atomic(path, text, n + 1);
    free(path);
    free(text);
    return rc;
}
