from ftops_tui.cli import main

raise SystemExit(main())
