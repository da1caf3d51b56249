// The adapters resident beside one model: several by name, at most one active (its layers swapped in),
// at most one merged into the base weights. `use(nil)` is the base model.

public final class LoRAAdapters {
  public let model: Florence2
  public private(set) var all: [LoRAAdapter] = []
  public private(set) var active: LoRAAdapter?
  public var merged: LoRAAdapter? { all.first { $0.isMerged } }

  public init(model: Florence2) { self.model = model }

  public subscript(name: String) -> LoRAAdapter? { all.first { $0.name == name } }

  /// Adds `adapter` and makes it active. A name already resident is refused (drop it first).
  public func add(_ adapter: LoRAAdapter) throws {
    guard self[adapter.name] == nil else {
      throw LoRAError("an adapter named '\(adapter.name)' is already resident (drop it first, or pick another name)")
    }
    all.append(adapter)
    try use(adapter.name)
  }

  /// Activates `name` (nil: none, the base model, or the merged one if any).
  public func use(_ name: String?) throws {
    var next: LoRAAdapter?
    if let name {
      guard let found = self[name] else { throw LoRAError("no adapter named '\(name)'\(residentList)") }
      guard !found.isMerged else {
        throw LoRAError("adapter '\(name)' is merged into the base weights; `unmerge` before using it as an adapter")
      }
      next = found
    }
    active?.detach()
    next?.attach()
    active = next
  }

  public func drop(_ name: String) throws {
    guard let adapter = self[name] else { throw LoRAError("no adapter named '\(name)'\(residentList)") }
    guard !adapter.isMerged else { throw LoRAError("adapter '\(name)' is merged; `unmerge` before dropping it") }
    if active === adapter { try use(nil) }
    all.removeAll { $0 === adapter }
  }

  /// Folds `name` (default: the active adapter) into the base weights. One merged adapter at a time.
  @discardableResult
  public func merge(_ name: String?) throws -> LoRAAdapter {
    guard let adapter = name.map({ self[$0] }) ?? active else {
      throw LoRAError(name.map { "no adapter named '\($0)'\(residentList)" } ?? "no active adapter to merge")
    }
    if let m = merged { throw LoRAError("adapter '\(m.name)' is already merged; `unmerge` first") }
    if let layer = adapter.layers.first(where: { !$0.canMerge }) {
      throw LoRAError(
        "cannot merge into \(layer.lora.path): its base weight is held in reduced precision (NF4, bf16 or int8); "
          + "load the model at fp32 (without quantize or precision) to merge")
    }
    if active === adapter { try use(nil) }
    if adapter.adaptsLMHead, let other = active, other.adaptsLMHead {
      throw LoRAError(
        "adapter '\(other.name)' is active on lm_head; merging '\(adapter.name)' unties lm_head under it. "
          + "`use none` first")
    }
    adapter.merge()
    return adapter
  }

  @discardableResult
  public func unmerge() throws -> LoRAAdapter {
    guard let adapter = merged else { throw LoRAError("no adapter is merged") }
    if adapter.adaptsLMHead, let other = active, other.adaptsLMHead {
      throw LoRAError(
        "adapter '\(other.name)' is active on the lm_head that merging '\(adapter.name)' untied; `use none` first")
    }
    adapter.unmerge()
    return adapter
  }

  private var residentList: String {
    all.isEmpty ? " (none is resident)" : " (resident: \(all.map(\.name).joined(separator: ", ")))"
  }
}
