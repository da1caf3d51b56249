import FlrModel
import FlrTrain
import Foundation

// What `dataset` and `train` keep resident in a session (Session.training): the dataset and the trainer of the
// last run (its adapter, optimizer state and position, for `train resume`).

final class TrainingState {
  var dataset: CaptionDataset?
  /// The last run; set through Session.keepRun, which also hands its evaluation weights to the session.
  fileprivate(set) var trainer: Trainer?
  /// The folder each adapter was loaded from (`load adapter=DIR`), for `train resume` after a restart.
  private var adapterFolders: [(adapter: WeakAdapter, folder: URL)] = []

  struct WeakAdapter { weak var value: LoRAAdapter? }

  func loadedFolder(of adapter: LoRAAdapter) -> URL? {
    adapterFolders.last { $0.adapter.value === adapter }?.folder
  }

  /// Hook for `load adapter=DIR`: remembers where `adapter` came from.
  func adapterLoaded(_ adapter: LoRAAdapter, from folder: String) {
    adapterFolders.removeAll { $0.adapter.value == nil }
    adapterFolders.append((WeakAdapter(value: adapter), URL(fileURLWithPath: folder, isDirectory: true)))
  }

  /// The resident training run of `adapter`: the last `train` of this session, when it trained this adapter
  /// (for `save`, which writes through it: evaluation weights, and the state with `save DIR state`).
  func trainer(of adapter: LoRAAdapter) -> Trainer? {
    guard let trainer, trainer.parameters.adapter === adapter else { return nil }
    return trainer
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
