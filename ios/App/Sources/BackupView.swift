import SwiftUI
import UniformTypeIdentifiers
import ZhangbanKit

/// The sealed backup file as a document for `fileExporter` (Files, iCloud Drive, AirDrop): its bytes are
/// end-to-end encrypted under the recovery code, so neither iCloud nor the platform can read them.
struct BackupFileDocument: FileDocument {
    static var readableContentTypes: [UTType] { [.data] }
    let url: URL

    init(url: URL) { self.url = url }

    init(configuration: ReadConfiguration) throws {
        throw CocoaError(.featureUnsupported) // only exported; restores read a picked URL (RestoreView)
    }

    func fileWrapper(configuration: WriteConfiguration) throws -> FileWrapper {
        try FileWrapper(url: url, options: .immediate)
    }
}

/// 备份: make the recovery code (shown once), back up, and save the file with the system's exporter.
@MainActor
struct BackupView: View {
    @EnvironmentObject var session: ZhangbanSession
    @State private var code: String?
    @State private var document: BackupFileDocument?
    @State private var exporting = false
    @State private var status: String?

    private var backup: PhoneBackup { PhoneBackup(store: session.store, platformURL: session.platformURL) }

    var body: some View {
        Form {
            if let code {
                Section("Recovery code (write it down)") {
                    Text(code).font(.headline).textSelection(.enabled)
                }
            }
            Button("Make a recovery code") { Task { await makeCode() } }
            Button("Back up to Files") { Task { await export(increment: false) } }
            Button("Back up the changes") { Task { await export(increment: true) } }
            if let status { Text(status).font(.caption) }
        }
        .navigationTitle("Backup")
        .fileExporter(
            isPresented: $exporting, document: document, contentType: .data, defaultFilename: "zhangban-backup.zbk"
        ) { result in
            if case .failure(let error) = result { status = error.localizedDescription }
        }
    }

    private func makeCode() async {
        do { code = try await backup.makeRecoveryCode() } catch { status = errorText(error, lang) }
    }

    /// A full backup, or an increment (only what changed since the last one; keep it with the files
    /// before it: a restore needs the full backup and every increment after it, in order).
    private func export(increment: Bool) async {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("zhangban-backup.zbk")
        do {
            let made: BackupSummary
            if increment {
                made = try await backup.backUpIncrement(to: url.path)
            } else {
                made = try await backup.backUp(to: url.path)
            }
            status = "\(made.manifest.records) · \(made.bytes) B · #\(made.chainIndex)"
            document = BackupFileDocument(url: url)
            exporting = true
        } catch {
            status = errorText(error, lang)
        }
    }
}

/// 换机恢复 (a new phone; offered at the first start, `ZhangbanApp`): pick the backup file in Files /
/// iCloud Drive, type the code, restore into a new store; `onRestored` opens the session on it (then the move is finished with the old phone's QR or the
/// service centre's one-time code, `PhoneBackup.rebind`).
@MainActor
struct RestoreView: View {
    let directory: URL
    let vault: KeyVault
    let onRestored: (ZhangbanStore, RestoreSummary) -> Void
    @State private var picked: URL?
    @State private var importing = false
    @State private var code = ""
    @State private var status: String?

    init(directory: URL, vault: KeyVault, onRestored: @escaping (ZhangbanStore, RestoreSummary) -> Void) {
        self.directory = directory
        self.vault = vault
        self.onRestored = onRestored
    }

    var body: some View {
        Form {
            Button("Choose the backup file") { importing = true }
            if let picked { Text(picked.lastPathComponent).font(.caption) }
            TextField("Recovery code", text: $code)
            Button("Restore") { Task { await restore() } }.disabled(picked == nil || code.isEmpty)
            if let status { Text(status).foregroundStyle(.red) }
        }
        .fileImporter(isPresented: $importing, allowedContentTypes: [.data]) { result in
            switch result {
            case .success(let url): picked = url
            case .failure(let error): status = error.localizedDescription
            }
        }
    }

    private func restore() async {
        guard let picked else { return }
        // A picked file outside the sandbox is readable only inside a security-scoped access; the core
        // reads a private copy (the check of every chunk happens while restoring).
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("restore.zbk")
        do {
            let scoped = picked.startAccessingSecurityScopedResource()
            defer { if scoped { picked.stopAccessingSecurityScopedResource() } }
            try? FileManager.default.removeItem(at: copy)
            try FileManager.default.copyItem(at: picked, to: copy)
        } catch {
            status = error.localizedDescription
            return
        }
        defer { try? FileManager.default.removeItem(at: copy) }
        do {
            let (store, summary) = try await PhoneBackup.restore(
                path: copy.path, code: code, dir: directory.path, vault: vault, pin: nil
            )
            onRestored(store, summary)
        } catch {
            status = errorText(error, lang)
        }
    }
}
