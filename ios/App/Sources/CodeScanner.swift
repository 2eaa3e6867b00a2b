import AVFoundation
import SwiftUI
import UIKit

/// The camera's QR scanner, the iOS twin of Android's `Host.rememberCodeScanner` (zxing's scanning activity).
/// A button that opens a sheet with the back camera: at the first QR code read the sheet closes and the text is
/// handed to `onScanned`, once, on the main thread (the caller decides whether to scan again). The text goes to
/// the same core call the paste field beside it uses, so the core's checks and its refusal text are the same
/// for both: this file knows nothing of what a code means. Without a camera (the simulator) or without the person's
/// permission the sheet says so (with a button to Settings when refused) and the paste field stays the way in.
@MainActor
struct ScanCodeButton: View {
    let title: String
    let onScanned: (String) -> Void
    @State private var scanning = false
    @State private var scanned: String?

    var body: some View {
        Button { scanned = nil; scanning = true } label: { Label(title, systemImage: "qrcode.viewfinder") }
            // The text is handed over once the sheet is gone, so that the caller may present its own sheet with it
            // (SwiftUI drops a sheet presented while another is still being dismissed).
            .sheet(isPresented: $scanning, onDismiss: {
                if let text = scanned {
                    scanned = nil
                    onScanned(text)
                }
            }) {
                CodeScannerSheet { text in
                    scanned = text
                    scanning = false
                }
            }
    }
}

/// The sheet: the camera's picture while it scans, or why it cannot (its phase comes from `CodeScanner`).
@MainActor
struct CodeScannerSheet: View {
    let onScanned: (String) -> Void
    @StateObject private var scanner = CodeScanner()
    @Environment(\.dismiss) private var dismiss
    @Environment(\.openURL) private var openURL

    var body: some View {
        NavigationStack {
            content
                .navigationTitle(String(localized: "Scan a QR code"))
                .navigationBarTitleDisplayMode(.inline)
                .toolbar {
                    ToolbarItem(placement: .cancellationAction) {
                        Button(String(localized: "Close")) { dismiss() }
                    }
                }
        }
        .task { await scanner.start(onScanned: onScanned) }
        .onDisappear { scanner.stop() }
    }

    @ViewBuilder private var content: some View {
        switch scanner.phase {
        case .starting:
            ProgressView()
        case .running:
            CameraPreview(scanner: scanner)
                .ignoresSafeArea(edges: .bottom)
                .overlay(alignment: .top) {
                    Text(String(localized: "Point the camera at the QR code"))
                        .padding(8)
                        .background(.regularMaterial, in: RoundedRectangle(cornerRadius: 8))
                        .padding()
                }
                .overlay(alignment: .bottom) {
                    // Shown with the picture, never after it: nothing moves under a finger.
                    if scanner.hasTorch {
                        Button { scanner.toggleTorch() } label: {
                            Label(scanner.torchOn ? String(localized: "Torch off") : String(localized: "Torch on"),
                                  systemImage: scanner.torchOn ? "flashlight.on.fill" : "flashlight.off.fill")
                        }
                        .buttonStyle(.borderedProminent)
                        .padding(32)
                    }
                }
        case .denied:
            unavailable(String(localized: "Camera access is off for this app. Allow it in Settings, or close this and paste the code's text."),
                        settings: true)
        case .noCamera:
            unavailable(String(localized: "This device has no camera. Close this and paste the code's text."), settings: false)
        case .failed:
            unavailable(String(localized: "The camera could not be started. Close this and paste the code's text."),
                        settings: false)
        }
    }

    private func unavailable(_ message: String, settings: Bool) -> some View {
        VStack(spacing: 16) {
            Image(systemName: "camera.fill").font(.largeTitle).accessibilityHidden(true)
            Text(message).multilineTextAlignment(.center)
            if settings, let url = URL(string: UIApplication.openSettingsURLString) {
                Button(String(localized: "Open Settings")) { openURL(url) }.buttonStyle(.borderedProminent)
            }
        }
        .padding()
    }
}

/// The capture session and its phase: permission, the back camera, a metadata output for QR codes only, the
/// torch. The session runs on its own queue (`startRunning` blocks); the codes arrive on the main queue and the
/// first one is delivered on the main actor, after which the session stops.
@MainActor
final class CodeScanner: NSObject, ObservableObject, AVCaptureMetadataOutputObjectsDelegate {
    enum Phase { case starting, running, denied, noCamera, failed }

    @Published private(set) var phase = Phase.starting
    @Published private(set) var hasTorch = false
    @Published private(set) var torchOn = false
    let session = AVCaptureSession()
    private let queue = DispatchQueue(label: "org.zhangban.scanner")
    private var device: AVCaptureDevice?
    private var onScanned: ((String) -> Void)?
    /// Set by `stop()` (the view went away) and by the first code read: nothing is delivered after it.
    private var stopped = false

    func start(onScanned: @escaping (String) -> Void) async {
        guard phase == .starting, !stopped else { return }
        self.onScanned = onScanned
        // nil on the simulator and on a device without a back camera
        guard let camera = AVCaptureDevice.default(.builtInWideAngleCamera, for: .video, position: .back) else {
            phase = .noCamera
            return
        }
        switch AVCaptureDevice.authorizationStatus(for: .video) {
        case .authorized:
            break
        case .notDetermined:
            // the system's question, with NSCameraUsageDescription (project.yml)
            guard await AVCaptureDevice.requestAccess(for: .video) else { phase = .denied; return }
        default:
            // .denied, or .restricted (parental controls, a managed device)
            phase = .denied
            return
        }
        guard configure(camera) else { phase = .failed; return }
        device = camera
        hasTorch = camera.hasTorch
        guard !stopped else { return }
        let session = self.session, queue = self.queue
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            queue.async {
                session.startRunning()
                done.resume()
            }
        }
        if stopped {
            stop() // the view went away while the camera was starting
        } else {
            phase = session.isRunning ? .running : .failed
        }
    }

    private func configure(_ camera: AVCaptureDevice) -> Bool {
        guard let input = try? AVCaptureDeviceInput(device: camera) else { return false }
        let output = AVCaptureMetadataOutput()
        session.beginConfiguration()
        defer { session.commitConfiguration() }
        guard session.canAddInput(input) else { return false }
        session.addInput(input)
        guard session.canAddOutput(output) else { return false }
        session.addOutput(output)
        // The types an output offers are known once it is in a session with a camera.
        guard output.availableMetadataObjectTypes.contains(.qr) else { return false }
        output.metadataObjectTypes = [.qr]
        output.setMetadataObjectsDelegate(self, queue: DispatchQueue.main)
        return true
    }

    nonisolated func metadataOutput(_ output: AVCaptureMetadataOutput, didOutput metadataObjects: [AVMetadataObject],
                                    from connection: AVCaptureConnection) {
        let texts = metadataObjects.compactMap { ($0 as? AVMetadataMachineReadableCodeObject)?.stringValue }
        guard let text = texts.first(where: { !$0.isEmpty }) else { return }
        Task { @MainActor in self.deliver(text) }
    }

    /// The first code only: the session stops, then the caller has the text.
    private func deliver(_ text: String) {
        guard !stopped, let onScanned else { return }
        stop()
        self.onScanned = nil
        onScanned(text)
    }

    func toggleTorch() {
        guard let device, device.hasTorch else { return }
        defer { torchOn = device.torchMode == .on }
        guard (try? device.lockForConfiguration()) != nil else { return }
        device.torchMode = device.torchMode == .on ? .off : .on
        device.unlockForConfiguration()
    }

    /// Stops the camera (and with it the torch); called when the sheet or its picture goes away and after the
    /// first code. Safe to call more than once.
    func stop() {
        stopped = true
        torchOn = false
        let session = self.session
        queue.async {
            if session.isRunning { session.stopRunning() }
        }
    }
}

/// The camera's picture: a view controller whose layer is the session's preview. It stops the scanner when it
/// leaves the screen, whatever took it away.
struct CameraPreview: UIViewControllerRepresentable {
    let scanner: CodeScanner

    func makeUIViewController(context: Context) -> CameraPreviewController {
        let scanner = self.scanner
        let controller = CameraPreviewController(session: scanner.session)
        controller.onGone = { [weak scanner] in scanner?.stop() }
        return controller
    }

    func updateUIViewController(_ controller: CameraPreviewController, context: Context) {}
}

final class CameraPreviewController: UIViewController {
    let preview: AVCaptureVideoPreviewLayer
    var onGone: (@MainActor () -> Void)?

    init(session: AVCaptureSession) {
        preview = AVCaptureVideoPreviewLayer(session: session)
        super.init(nibName: nil, bundle: nil)
    }

    required init?(coder: NSCoder) {
        return nil
    }

    override func viewDidLoad() {
        super.viewDidLoad()
        view.backgroundColor = .black
        preview.videoGravity = .resizeAspectFill
        view.layer.addSublayer(preview)
        view.isAccessibilityElement = true
        view.accessibilityLabel = String(localized: "Camera picture")
    }

    override func viewDidLayoutSubviews() {
        super.viewDidLayoutSubviews()
        preview.frame = view.bounds
    }

    override func viewDidDisappear(_ animated: Bool) {
        super.viewDidDisappear(animated)
        onGone?()
    }
}
