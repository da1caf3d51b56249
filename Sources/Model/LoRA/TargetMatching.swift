// peft/tuners/tuners_utils.py `check_target_module_exists` and peft/tuners/lora/model.py's rank/alpha pattern
// lookup (SPEC §6.3): which modules a LoraConfig wraps, and with which r and alpha.
import Foundation

/// `target_modules`: a list of names (suffix match at a dot) or one regex that must match the whole path.
public enum TargetModules: Equatable, Sendable {
  case names([String])
  case regex(String)

  /// The shell form: `re:REGEX`, or comma-separated names.
  public static func parse(_ text: String) -> TargetModules {
    if text.hasPrefix("re:") { return .regex(String(text.dropFirst(3))) }
    return .names(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
  }

  public var description: String {
    switch self {
    case .names(let n): n.joined(separator: ",")
    case .regex(let r): "re:" + r
    }
  }

  /// PEFT: a list entry matches a path equal to it or ending with "." + entry; a string is a full-match regex.
  public func matches(_ path: String) throws -> Bool {
    switch self {
    case .names(let names): return names.contains { path == $0 || path.hasSuffix("." + $0) }
    case .regex(let pattern): return try fullMatch(pattern, path)
    }
  }
}

func fullMatch(_ pattern: String, _ text: String) throws -> Bool {
  let regex: NSRegularExpression
  do { regex = try NSRegularExpression(pattern: "^(?:" + pattern + ")$") } catch {
    throw LoRAError("invalid regular expression '\(pattern)': \(error.localizedDescription)")
  }
  return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
}

/// rank_pattern / alpha_pattern lookup (peft 0.14 rule, which 0.21 also accepts): key K applies to module N
/// when N ends with "." followed by a full match of the regex K; peft 0.21 also accepts K matching all of N.
/// The first key that applies wins.
func patternValue<V>(_ pattern: [(String, V)], for path: String) throws -> V? {
  for (key, value) in pattern {
    if try fullMatch(key, path) || fullMatch("(?:.*\\.)(?:" + key + ")", path) { return value }
  }
  return nil
}

public struct LoRAError: Error, CustomStringConvertible, Equatable {
  public let message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

/// Module paths in the two namings PEFT adapters come in.
public enum ModuleNaming: String, Sendable, CaseIterable {
  /// The remote-code model's names (`vision_tower.convs.0.proj`, `language_model.model.encoder…`).
  case original
  /// transformers 5's native Florence2 (`model.vision_tower.convs.0.conv`, `model.language_model.encoder…`).
  case native

  /// Original module path -> native module path (SPEC §6.1 table, for modules rather than tensors); nil for a
  /// module with no native counterpart (containers such as PreNorm `fn`).
  public static func nativePath(ofOriginal path: String) -> String? {
    let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    if path == "language_model.lm_head" { return "lm_head" }
    if path.hasPrefix("language_model.model.") {
      return "model.language_model." + parts.dropFirst(2).joined(separator: ".")
    }
    if ["image_proj_norm", "visual_temporal_embed"].contains(parts[0]) { return "model.multi_modal_projector." + path }
    if parts[0] == "image_pos_embed" {
      return "model.multi_modal_projector.image_position_embed" + parts.dropFirst().map { "." + $0 }.joined()
    }
    guard parts[0] == "vision_tower" else { return nil }
    if parts.count == 4, parts[1] == "convs" {
      return "model.vision_tower.convs.\(parts[2]).\(parts[3] == "proj" ? "conv" : parts[3])"
    }
    // vision_tower.blocks.s.b.X_block.<module...>
    guard parts.count >= 7, parts[1] == "blocks" else { return nil }
    let head = "model.vision_tower." + parts[1...4].joined(separator: ".")
    let tail = parts[5...].joined(separator: ".")
    let attention = parts[4] == "spatial_block" ? "window_attn" : "channel_attn"
    switch tail {
    case "conv1.fn.dw", "conv2.fn.dw": return head + "." + parts[5]
    case "\(attention).norm": return head + ".norm1"
    case "ffn.norm": return head + ".norm2"
    case "\(attention).fn.qkv", "\(attention).fn.proj": return head + ".\(attention).\(parts[7])"
    case "ffn.fn.net.fc1", "ffn.fn.net.fc2": return head + ".ffn.\(parts[8])"
    default: return nil
    }
  }

  /// Native module path -> original one (the loader's tensor renaming applied to `<path>.weight`).
  public static func originalPath(ofNative path: String) -> String? {
    guard let name = CheckpointNaming.originalName(ofNative: path + ".weight"), name.hasSuffix(".weight") else {
      return nil
    }
    return String(name.dropLast(".weight".count))
  }
}

extension Florence2 {
  /// The modules `targets` wraps, in named_modules() order, given module paths in `naming`. Throws when a
  /// target hits a module that is not Linear/Conv2d, or when nothing matches.
  public func loraTargets(_ targets: TargetModules, naming: ModuleNaming = .original) throws -> [ModuleEntry] {
    var matched: [ModuleEntry] = []
    var refused: [String] = []
    for entry in namedModules() {
      let path: String
      switch naming {
      case .original: path = entry.path
      case .native:
        guard let p = ModuleNaming.nativePath(ofOriginal: entry.path) else { continue }
        path = p
      }
      guard try targets.matches(path) else { continue }
      switch entry.kind {
      case .linear, .conv2d: matched.append(entry)
      case .other(let type): refused.append("\(path) (\(type))")
      }
    }
    if !refused.isEmpty {
      let shown = refused.prefix(8).joined(separator: ", ") + (refused.count > 8 ? ", … (\(refused.count) in all)" : "")
      throw LoRAError(
        "targets '\(targets.description)' match modules LoRA cannot wrap (only Linear and Conv2d): \(shown)")
    }
    if matched.isEmpty {
      throw LoRAError("targets '\(targets.description)' match no module of the model (\(naming.rawValue) naming)")
    }
    return matched
  }
}
