import FlrModel
import FlrTrain
import Foundation

// What `dataset` and `train` keep resident in a session: the dataset and the trainer of the last run (its
// adapter, optimizer state and position, for `train resume`). Kept in a side table keyed by the session
// object so the Session type need not know training exists (one stored property there would do the same).

final class TrainingState: @unchecked Sendable {
  var dataset: CaptionDataset?
  /// A held-out dataset of its own (`dataset ... val=DIR`), for `eval` and `train eval_every_*`.
  var validation: CaptionDataset?
  var trainer: Trainer?
  /// The folder each adapter was loaded from (`load adapter=DIR`), for `train resume` after a restart.
  private var adapterFolders: [(adapter: WeakAdapter, folder: URL)] = []
  /// Adapters trained in this session since they were last written (`save`, a run's final save to out=).
  private var unsaved: [WeakAdapter] = []
  /// The folder each adapter was last saved to or loaded from.
  private var savedFolders: [(adapter: WeakAdapter, folder: URL)] = []

  struct WeakAdapter { weak var value: LoRAAdapter? }

  func loadedFolder(of adapter: LoRAAdapter) -> URL? {
    adapterFolders.last { $0.adapter.value === adapter }?.folder
  }

  /// Hook for `load adapter=DIR`: remembers where `adapter` came from.
  static func adapterLoaded(_ adapter: LoRAAdapter, from folder: String, _ session: Session) {
    let state = of(session)
    state.adapterFolders.removeAll { $0.adapter.value == nil }
    state.adapterFolders.append((WeakAdapter(value: adapter), URL(fileURLWithPath: folder, isDirectory: true)))
    state.saved(adapter, to: URL(fileURLWithPath: folder, isDirectory: true))
  }

  func isUnsaved(_ adapter: LoRAAdapter) -> Bool { unsaved.contains { $0.value === adapter } }

  func savedFolder(of adapter: LoRAAdapter) -> URL? { savedFolders.last { $0.adapter.value === adapter }?.folder }

  /// A run starts changing `adapter`.
  func trained(_ adapter: LoRAAdapter) {
    unsaved.removeAll { $0.value == nil }
    if !isUnsaved(adapter) { unsaved.append(WeakAdapter(value: adapter)) }
  }

  /// `adapter` as it is now is written in `folder` (nil: the run's own out= folder).
  func saved(_ adapter: LoRAAdapter, to folder: URL? = nil) {
    unsaved.removeAll { $0.value == nil || $0.value === adapter }
    savedFolders.removeAll { $0.adapter.value == nil }
    if let folder { savedFolders.append((WeakAdapter(value: adapter), folder)) }
  }

  /// `load MODEL` rebuilt `old` as `new` on the new model: what was known of it carries over.
  func replaced(_ old: LoRAAdapter, by new: LoRAAdapter) {
    if isUnsaved(old) { trained(new) }
    if let folder = savedFolder(of: old) { savedFolders.append((WeakAdapter(value: new), folder)) }
    if let folder = loadedFolder(of: old) { adapterFolders.append((WeakAdapter(value: new), folder)) }
  }

  /// The resident training run of `adapter`: the last `train` of this session, when it trained this adapter
  /// (for `save`, which writes through it: evaluation weights, and the state with `save DIR state`).
  static func trainer(of adapter: LoRAAdapter, _ session: Session) -> Trainer? {
    guard let trainer = of(session).trainer, trainer.parameters.adapter === adapter else { return nil }
    return trainer
  }

  private static let lock = NSLock()
  nonisolated(unsafe) private static var table: [ObjectIdentifier: (session: WeakSession, state: TrainingState)] = [:]

  struct WeakSession { weak var value: Session? }

  static func of(_ session: Session) -> TrainingState {
    lock.lock()
    defer { lock.unlock() }
    let key = ObjectIdentifier(session)
    if let entry = table[key], entry.session.value === session { return entry.state }
    table = table.filter { $0.value.session.value != nil }
    let state = TrainingState()
    table[key] = (WeakSession(value: session), state)
    return state
  }

  /// The held-out items: `dataset val=DIR` when given, else the dataset's split; nil when there are none.
  static func validationSet(_ session: Session) -> ValidationSet? {
    let state = of(session)
    if let validation = state.validation {
      return ValidationSet(
        dataset: validation, indices: Array(validation.items.indices), source: validation.location.path)
    }
    guard let data = state.dataset, !data.evalIndices.isEmpty else { return nil }
    return ValidationSet(dataset: data, indices: data.evalIndices, source: "the split of \(data.location.path)")
  }

  static func requireDataset(_ session: Session, for command: String) throws -> CaptionDataset {
    guard let dataset = of(session).dataset else {
      throw ShellError("\(command): no dataset loaded (dataset DIR)")
    }
    return dataset
  }
}

extension Session {
  func requireModel(for command: String) throws -> LoadedModel {
    guard let model else { throw ShellError("\(command): no model loaded (load MODEL)") }
    return model
  }
}
