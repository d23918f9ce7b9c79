; Inno Setup script for Cove on Windows: a per-user install of PyInstaller's dist\cove.
; Recipe (documented, not run in CI): packaging/windows/README.md.
#define AppName "Cove"
#define AppVersion "0.1.0"
#define AppExe "cove.exe"

[Setup]
AppId={{6F0B7D3E-2C1A-4E8B-9A55-C0DE00000001}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=The Cove developers
DefaultDirName={localappdata}\Programs\{#AppName}
DefaultGroupName={#AppName}
PrivilegesRequired=lowest
OutputDir=..\..\dist
OutputBaseFilename=cove-{#AppVersion}-windows-x64-setup
SetupIconFile=..\..\resources\icons\cove.ico
UninstallDisplayIcon={app}\{#AppExe}
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
Compression=lzma2
SolidCompression=yes
WizardStyle=modern

[Files]
Source: "..\..\dist\cove\*"; DestDir: "{app}"; Flags: recursesubdirs createallsubdirs ignoreversion

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked

[Run]
Filename: "{app}\{#AppExe}"; Description: "Start {#AppName}"; Flags: nowait postinstall skipifsilent

; Cove's history, notes and models live in %LOCALAPPDATA%\Cove: the uninstaller leaves them.
