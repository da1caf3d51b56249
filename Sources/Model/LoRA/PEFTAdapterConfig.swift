// adapter_config.json as PEFT reads and writes it (peft/config.py, tuners/lora/config.py; SPEC §6.2-6.3):
// flr writes the conservative 19-key set that peft 0.14 and 0.21 both load silently, and reads any version's
// file, refusing what it cannot honour (DoRA, other PEFT types, lora biases, modules_to_save, layer filters).
import Foundation

enum PEFTAdapterConfig {
  /// The 19 keys, in PEFT's dataclass order.
  static func json(_ config: LoRAConfig, targets: Any, rankPattern: [(String, Int)], alphaPattern: [(String, Float)])
    -> String
  {
    func quoted(_ s: String) -> String {
      let data = try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])
      return String(decoding: data, as: UTF8.self).dropFirst().dropLast().description
    }
    func number(_ x: Float) -> String { x == x.rounded() && abs(x) < 1e9 ? String(Int(x)) : "\(x)" }
    func object<V>(_ pairs: [(String, V)], _ show: (V) -> String) -> String {
      pairs.isEmpty ? "{}" : "{" + pairs.map { "\(quoted($0.0)): \(show($0.1))" }.joined(separator: ", ") + "}"
    }
    let targetText: String
    if let list = targets as? [String] {
      targetText = "[\n    " + list.map(quoted).joined(separator: ",\n    ") + "\n  ]"
    } else {
      targetText = quoted(targets as? String ?? "")
    }
    let fields: [(String, String)] = [
      ("alpha_pattern", object(alphaPattern, number)),
      ("base_model_name_or_path", config.baseModelNameOrPath.map(quoted) ?? "null"),
      ("bias", "\"none\""),
      ("fan_in_fan_out", "false"),
      ("inference_mode", "true"),
      ("init_lora_weights", ["gaussian": "\"gaussian\"", "false": "false"][config.initialization.rawValue] ?? "true"),
      ("layers_pattern", "null"),
      ("layers_to_transform", "null"),
      ("lora_alpha", number(config.alpha)),
      ("lora_dropout", "\(Double(config.dropout))"),
      ("modules_to_save", "null"),
      ("peft_type", "\"LORA\""),
      ("r", String(config.rank)),
      ("rank_pattern", object(rankPattern) { String($0) }),
      ("revision", "null"),
      ("target_modules", targetText),
      ("task_type", config.taskType.map(quoted) ?? "null"),
      ("use_dora", "false"),
      ("use_rslora", config.useRslora ? "true" : "false"),
    ]
    return "{\n" + fields.map { "  \"\($0.0)\": \($0.1)" }.joined(separator: ",\n") + "\n}\n"
  }

  /// Reads a PEFT adapter_config.json into a LoRAConfig, refusing settings flr does not implement.
  static func parse(_ data: Data, file: String) throws -> LoRAConfig {
    func fail(_ message: String) -> LoRAError { LoRAError("\(file): \(message)") }
    let object: [String: Any]
    do {
      guard let o = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw fail("not a JSON object")
      }
      object = o
    } catch let e as LoRAError { throw e } catch { throw fail("not valid JSON (\(error.localizedDescription))") }
    func present(_ key: String) -> Any? {
      guard let v = object[key], !(v is NSNull) else { return nil }
      return v
    }
    guard let peftType = present("peft_type") as? String else {
      throw fail("no peft_type: not a PEFT adapter config")
    }
    guard peftType == "LORA" else { throw fail("peft_type is \(peftType); flr reads LORA adapters only") }
    if present("use_dora") as? Bool == true { throw fail("use_dora is true: DoRA adapters are not supported") }
    if let bias = present("bias") as? String, bias != "none" {
      throw fail("bias is \"\(bias)\": flr supports bias \"none\" only")
    }
    if present("fan_in_fan_out") as? Bool == true {
      throw fail("fan_in_fan_out is true (Conv1D layout): not supported")
    }
    if let m = present("modules_to_save") as? [Any], !m.isEmpty {
      throw fail("modules_to_save \(m) (fully trained modules) is not supported")
    }
    if present("layers_to_transform") != nil { throw fail("layers_to_transform is not supported") }
    if let lb = present("lora_bias") as? Bool, lb { throw fail("lora_bias is true: not supported") }

    var config = LoRAConfig()
    guard let r = present("r") as? Int else { throw fail("r is missing or not an integer") }
    config.rank = r
    config.alpha = Float((present("lora_alpha") as? Double) ?? 8)  // PEFT's default lora_alpha is 8
    config.dropout = Float((present("lora_dropout") as? Double) ?? 0)
    config.useRslora = (present("use_rslora") as? Bool) ?? false
    switch present("target_modules") {
    case let list as [String]: config.targets = .names(list)
    case let regex as String: config.targets = .regex(regex)
    default: throw fail("target_modules is missing or neither a list nor a string")
    }
    // ensure_weight_tying (peft >= 0.18) with lm_head targeted also puts LoRA Embedding layers on the tied
    // `shared` / embed_tokens (lmhead.py saw lora_embedding_A/B there): flr adapts the head only.
    if present("ensure_weight_tying") as? Bool == true,
      try config.targets.matches(Florence2.lmHeadPath) || config.targets.matches("lm_head")
    {
      throw fail(
        "ensure_weight_tying is true with lm_head targeted: PEFT then adapts the tied embeddings too, which flr "
          + "does not (LoRA on lm_head alone is supported)")
    }
    if let s = present("init_lora_weights") as? String, s == "gaussian" { config.initialization = .gaussian }
    if present("init_lora_weights") as? Bool == false { config.initialization = .layerDefault }
    // JSONSerialization does not keep key order; sorted keys make the lookup deterministic (see report).
    if let rp = present("rank_pattern") as? [String: Any] {
      config.rankPattern = try rp.keys.sorted().map { k in
        guard let v = rp[k] as? Int else { throw fail("rank_pattern['\(k)'] is not an integer") }
        return (k, v)
      }
    }
    if let ap = present("alpha_pattern") as? [String: Any] {
      config.alphaPattern = try ap.keys.sorted().map { k in
        guard let v = ap[k] as? Double else { throw fail("alpha_pattern['\(k)'] is not a number") }
        return (k, Float(v))
      }
    }
    config.taskType = present("task_type") as? String
    config.baseModelNameOrPath = present("base_model_name_or_path") as? String
    do { try config.validate() } catch let e as LoRAError { throw fail(e.message) }
    return config
  }
}
