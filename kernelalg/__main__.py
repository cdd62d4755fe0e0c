from kernelalg.cli import main

raise SystemExit(main())
