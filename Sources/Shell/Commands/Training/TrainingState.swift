import FlrModel
import FlrTrain
import Foundation

// What `dataset` and `train` keep resident in a session (Session.training): the dataset, a held-out set of
// its own, the trainer of the last run (its adapter, optimizer state and position, for `train resume`), and
// which adapters hold training that is not written anywhere yet.

final class TrainingState {
  var dataset: CaptionDataset?
  /// A held-out dataset of its own (`dataset ... val=DIR`), for `eval` and `train eval_every_*`.
  var validation: CaptionDataset?
  /// The last run; set through Session.keepRun, which also hands its evaluation weights to the session.
  fileprivate(set) var trainer: Trainer?
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
  func adapterLoaded(_ adapter: LoRAAdapter, from folder: String) {
    adapterFolders.removeAll { $0.adapter.value == nil }
    adapterFolders.append((WeakAdapter(value: adapter), URL(fileURLWithPath: folder, isDirectory: true)))
    saved(adapter, to: URL(fileURLWithPath: folder, isDirectory: true))
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
  func trainer(of adapter: LoRAAdapter) -> Trainer? {
    guard let trainer, trainer.parameters.adapter === adapter else { return nil }
    return trainer
  }

  /// The held-out items: `dataset val=DIR` when given, else the dataset's split; nil when there are none.
  var validationSet: ValidationSet? {
    if let validation {
      return ValidationSet(
        dataset: validation, indices: Array(validation.items.indices), source: validation.location.path)
    }
    guard let data = dataset, !data.evalIndices.isEmpty else { return nil }
    return ValidationSet(dataset: data, indices: data.evalIndices, source: "the split of \(data.location.path)")
  }

  func requireDataset(for command: String) throws -> CaptionDataset {
    guard let dataset else { throw ShellError("\(command): no dataset loaded (dataset DIR)") }
    return dataset
  }
}

/// A run's evaluation weights: the optimizer's (schedule-free: the averaged iterate x; others: the weights as
/// they are), the one mechanism the run's own samples and saves use (TrainableParameters.withEvaluationWeights).
extension Trainer: EvaluationWeights {
  func withEvaluationWeights<T>(_ body: () throws -> T) rethrows -> T {
    try parameters.withEvaluationWeights(optimizer, body)
  }
}

extension Session {
  /// Makes `trainer` the session's resident run (nil: none) and hands inference the weights it evaluates with.
  func keepRun(_ trainer: Trainer?) {
    training.trainer = trainer
    evaluationWeights = trainer
  }

  func requireModel(for command: String) throws -> LoadedModel {
    guard let model else { throw ShellError("\(command): no model loaded (load MODEL)") }
    return model
  }
}
